import './instrumentation';
import 'reflect-metadata';
import { runMain, startService } from '@warden/runtime';
import { AppModule } from './app.module';
import { loadConfig } from './config';

runMain(async () => {
  const config = loadConfig();
  return startService(AppModule.forRoot(config), { service: 'ingest', port: config.INGEST_PORT });
}, 'ingest');
