import { Module, type DynamicModule, type Provider } from '@nestjs/common';
import { Logger } from '@warden/observability';
import { IdentityModule, LOGGER } from '@warden/runtime';
import { ApprovalsModule } from '../approval/approval.module';
import { ApprovalService } from '../approval/approval.service';
import { addOpenApiPaths } from '../approval/http/openapi.controller';
import { APPROVALS, type ApprovalsPort } from './approvals.port';
import { SlackEventsConsumer } from './consumers/slack-events.consumer';
import { SlackMessagesRepository } from './projections/slack-messages.repository';
import { SLACK_CLIENT, SLACK_SETTINGS, SlackNotifier, createSlackClient } from './slack-notifier';
import { SlackController } from './http/slack.controller';
import { PlanModule } from '../plan/plan.module';
import { SlackPlanNotifier } from './slack-plans';
import { slackSettings, type SlackEnv } from './slack.config';
import { SLACK_OPENAPI_PATHS } from './http/slack.openapi';

// compile-time check that the engine satisfies what Slack and the dashboard use
export const approvalsPortCheck = (s: ApprovalService): ApprovalsPort => s;

/**
 * Slack: the signed `/slack/*` endpoints always (they answer 503 without `SLACK_SIGNING_SECRET`);
 * posting and updating messages only with `SLACK_BOT_TOKEN` (else Slack is off, logged at start).
 */
@Module({})
export class SlackModule {
  static forRoot(config: SlackEnv): DynamicModule {
    const settings = slackSettings(config);
    addOpenApiPaths(SLACK_OPENAPI_PATHS);
    const log = new Logger('approvals').child('slack');
    if (settings) log.info('Slack is on', { api_url: settings.apiUrl, channel: settings.approvalsChannel });
    else log.info('Slack is off: SLACK_BOT_TOKEN is unset (no messages are posted)');
    const posting: Provider[] = settings
      ? [
          { provide: SLACK_SETTINGS, useValue: settings },
          { provide: SLACK_CLIENT, inject: [LOGGER], useFactory: (l: Logger) => createSlackClient(settings, l) },
          SlackMessagesRepository,
          SlackNotifier,
          SlackPlanNotifier,
        ]
      : [];
    return {
      module: SlackModule,
      imports: [IdentityModule, ApprovalsModule, PlanModule],
      controllers: [SlackController, ...(settings ? [SlackEventsConsumer] : [])],
      providers: [{ provide: APPROVALS, useExisting: ApprovalService }, ...posting],
    };
  }
}
