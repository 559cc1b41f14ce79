import { sseFrame } from './live-events';

describe('dashboard SSE frames', () => {
  it('is one event per envelope, with the event id', () => {
    const f = sseFrame({ id: 'e1', type: 'run_started', data: { worker_id: 'w' } });
    expect(f).toBe('id: e1\nevent: run-event\ndata: {"id":"e1","type":"run_started","data":{"worker_id":"w"}}\n\n');
  });

  it('leaves tool output out (it may be large) but keeps its hash', () => {
    const f = sseFrame({
      id: 'e2',
      type: 'run_succeeded',
      data: { result: { output: 'x'.repeat(1000), output_hash: 'sha256:ab' } },
    });
    const data = JSON.parse(f.split('data: ')[1]!) as { data: { result: Record<string, unknown> } };
    expect(data.data.result).toEqual({ output_hash: 'sha256:ab', output_omitted: true });
  });

  it('never lets a newline in a value break the frame', () => {
    const f = sseFrame({ id: 'e3', type: 't', data: { s: 'a\n\nb' } });
    expect(f.split('\n\n')).toHaveLength(2);
  });
});
