import { isSlackResponseUrl } from './slack.controller';

describe('isSlackResponseUrl: a signed payload may only make us post back to Slack', () => {
  const API = 'https://slack.com/api/';
  it.each([
    ['https://hooks.slack.com/actions/T1/123/abc', API, true],
    ['https://hooks.slack.com:443/commands/T1/123/abc', API, true],
    ['http://hooks.slack.com/actions/T1/123/abc', API, false],
    ['https://hooks.slack.com:8443/actions/x', API, false],
    ['https://hooks.slack.com.evil.test/actions/x', API, false],
    ['https://evil.test/hooks.slack.com/x', API, false],
    ['https://user:pw@hooks.slack.com/x', API, false],
    ['https://slack.com/api/chat.postMessage', API, true],
    ['http://127.0.0.1:9999/respond/x', 'http://127.0.0.1:9999/api/', true],
    ['http://127.0.0.1:9998/respond/x', 'http://127.0.0.1:9999/api/', false],
    ['http://169.254.169.254/latest/meta-data', API, false],
    ['file:///etc/passwd', API, false],
    ['not a url', API, false],
  ])('%s (SLACK_API_URL %s) → %s', (url, api, expected) => {
    expect(isSlackResponseUrl(url, api)).toBe(expected);
  });
});
