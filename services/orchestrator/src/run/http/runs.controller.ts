import { Controller, Get, HttpCode, Inject, Param, Post, Query, Req } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { z } from 'zod';
import { RunStatus, parseWith } from '@warden/contracts';
import { makeEnvelope, type Publisher } from '@warden/bus';
import { DomainError, ValidationError, isUuid } from '@warden/kernel';
import { Auth, DATA_SOURCE, PUBLISHER, type AuthedRequest } from '@warden/runtime';
import { decideCancel } from '../domain/run.decide';
import { RunRepository } from '../projections/run.repository';
import type { CancelResponse } from './run.schemas';

export const ListQuery = z.strictObject({
  status: RunStatus.optional(),
  agent_id: z.string().min(1).max(200).optional(),
  session_id: z.string().min(1).max(200).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
});

function encodeCursor(createdAt: string, runId: string): string {
  return Buffer.from(`${createdAt}|${runId}`).toString('base64url');
}
function decodeCursor(cursor: string): { createdAt: string; runId: string } {
  const [createdAt, runId] = Buffer.from(cursor, 'base64url').toString().split('|');
  if (!createdAt || !runId || !isUuid(runId) || Number.isNaN(Date.parse(createdAt))) {
    throw new ValidationError([{ path: 'cursor', message: 'not a cursor returned by this API' }]);
  }
  return { createdAt, runId };
}
function requireUuid(id: string): void {
  if (!isUuid(id)) throw new DomainError('RUN.NOT_FOUND', 'no such run');
}

@Controller('v1/runs')
export class RunsController {
  private readonly runs: RunRepository;
  constructor(
    @Inject(DATA_SOURCE) ds: DataSource,
    @Inject(PUBLISHER) private readonly publisher: Publisher,
  ) {
    this.runs = new RunRepository(ds.manager);
  }

  @Get()
  @Auth('viewer')
  async list(@Query() query: Record<string, string>): Promise<{ runs: unknown[]; next_cursor: string | null }> {
    const q = parseWith(ListQuery, query);
    if (!q.ok) throw new ValidationError(q.errors);
    const { cursor, ...filter } = q.value;
    const runs = await this.runs.list({ ...filter, before: cursor ? decodeCursor(cursor) : undefined });
    const last = runs[runs.length - 1];
    return {
      runs,
      next_cursor: runs.length === filter.limit && last ? encodeCursor(last.created_at, last.run_id) : null,
    };
  }

  @Get(':runId')
  @Auth('viewer')
  async get(@Param('runId') runId: string): Promise<unknown> {
    requireUuid(runId);
    const found = await this.runs.getView(runId);
    if (!found) throw new DomainError('RUN.NOT_FOUND', 'no such run');
    return { ...found.run, events: found.events, ignored_events: found.ignored };
  }

  /** Cancels a non-terminal run: records `run_cancelled`; the projection applies it in order. */
  @Post(':runId/cancel')
  @HttpCode(202)
  @Auth('approver')
  async cancel(@Param('runId') runId: string, @Req() req: AuthedRequest): Promise<z.output<typeof CancelResponse>> {
    requireUuid(runId);
    const state = await this.runs.getState(runId);
    decideCancel(state);
    await this.publisher.publishEvent(
      makeEnvelope({
        type: 'run_cancelled',
        runId,
        producer: 'orchestrator',
        traceId: state!.traceId!,
        correlationId: runId,
        data: { by: req.principal!.name },
      }),
    );
    return { run_id: runId, status: 'cancel_requested' };
  }
}
