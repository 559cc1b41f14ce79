import { Subjects } from '@warden/contracts';
import { EventAuthenticity, Publisher, connectBus, installEventAuthenticity } from '@warden/bus';
import { openDataSource, type ServiceDataSourceOptions } from '@warden/persistence';
import { keyringFromConfig, type BaseEnv } from './config';
import type { ProjectionFactory } from './projections';

/** A service's read models, as `npm run projections:rebuild` sees them. */
export interface RebuildTarget<C extends BaseEnv = BaseEnv> {
  service: string;
  schema: string;
  migrations: ServiceDataSourceOptions['migrations'];
  loadConfig: (env: Record<string, string | undefined>) => C;
  projections: ProjectionFactory<C>;
}

/**
 * Empties and replays every projection of one service from the event stream. The service must be
 * stopped (its live projection would race the rebuild). Returns each projection's final checkpoint.
 * @example await rebuildService(rebuildTarget, process.env)
 */
export async function rebuildService<C extends BaseEnv>(
  target: RebuildTarget<C>,
  env: Record<string, string | undefined>,
): Promise<Record<string, number>> {
  const config = target.loadConfig(env);
  const keyring = keyringFromConfig(target.service, config);
  const authenticity = new EventAuthenticity(keyring);
  // a rebuild applies exactly what the live projection would: forged events stay out
  installEventAuthenticity(authenticity);
  const ds = await openDataSource({
    url: config.DATABASE_URL,
    schema: target.schema,
    migrations: target.migrations,
    preparedStatements: config.DATABASE_PREPARED_STATEMENTS,
  });
  const bus = await connectBus(config.NATS_URL, `${target.service}-rebuild`);
  const subjects = new Subjects(config.WARDEN_SUBJECT_PREFIX);
  try {
    const out: Record<string, number> = {};
    const projections = target.projections({
      ds,
      bus,
      subjects,
      publisher: new Publisher(bus.js, subjects, {
        seal: (e) => authenticity.seal(e),
        sealBatch: (envs) => authenticity.sealBatch(envs),
      }),
      keyring,
      config,
    });
    for (const [i, p] of projections.entries()) out[`${target.service}#${i}`] = await p.rebuild();
    return out;
  } finally {
    await bus.nc.close();
    await ds.destroy();
  }
}
