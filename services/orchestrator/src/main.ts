import './instrumentation';
import 'reflect-metadata';
import { runMain, startService } from '@warden/runtime';
import { AppModule } from './app.module';
import { loadConfig } from './config';

runMain(async () => {
  const config = loadConfig();
  return startService(AppModule.forRoot(config), {
    service: 'orchestrator',
    port: config.ORCHESTRATOR_PORT,
  });
}, 'orchestrator');
