import { Controller, Get, Inject } from '@nestjs/common';
import { ActiveBundle, type BundleInfo } from '../active-bundle';

/** The active bundle. Public for now: version and digest reveal no rule. */
@Controller('v1/policy')
export class PolicyController {
  constructor(@Inject(ActiveBundle) private readonly bundles: ActiveBundle) {}

  @Get()
  get(): BundleInfo {
    return this.bundles.info();
  }
}
