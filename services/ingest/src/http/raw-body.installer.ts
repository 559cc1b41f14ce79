import { Inject, Injectable } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { rawBodyMiddleware } from './raw-body';

/**
 * Installs {@link rawBodyMiddleware} on the HTTP server while the app is being created, i.e. before
 * `startService` adds the JSON body parser, so the raw routes are read (and size-checked) as a stream
 * and the parser skips them. Nest constructs providers before `NestFactory.create` returns; the adapter
 * is set on the host before that.
 */
@Injectable()
export class RawBodyInstaller {
  readonly installed: boolean;
  constructor(@Inject(HttpAdapterHost) host: HttpAdapterHost) {
    const adapter = host.httpAdapter as { use?: (fn: unknown) => unknown } | undefined;
    this.installed = typeof adapter?.use === 'function';
    if (this.installed) adapter!.use!(rawBodyMiddleware());
  }
}
