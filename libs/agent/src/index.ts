export type {
  ChatMessage,
  ChatModel,
  ChatRequest,
  ChatResponse,
  JsonSchema,
  TokenUsage,
  ToolCall,
  ToolDefinition,
} from './model/chat-model';
export { NO_USAGE, addUsage } from './model/chat-model';
export { AiSdkChatModel, providerToolName, toolNameMap, type ModelPrices } from './model/ai-sdk-chat-model';
export {
  createChatModel,
  createLanguageModel,
  parseModelSpec,
  ModelSpecError,
  MODEL_SYNTAX,
  type ModelSpec,
  type CreateChatModelOptions,
} from './model/model-spec';
export { roleToolDefinitions, workerToolDefinition } from './loop/role-tools';
export {
  runAgent,
  defaultSystemPrompt,
  type AgentCall,
  type AgentEvent,
  type AgentResult,
  type AgentStopReason,
  type RunAgentOptions,
} from './loop/run-agent';
export {
  wardenGate,
  guardedGate,
  outcomeOfRun,
  type EscalationMode,
  type Gate,
  type GateCall,
  type GateClient,
  type LocalExecutor,
  type RunView,
} from './gate/gate';
export { toolResultJson, toolResultText, outcomeSummary, type GateOutcome, type RefusalStatus } from './gate/outcome';
export { WardenRefusalError, type WardenAdapterOptions } from './adapters/common';
export { wardenTools, wardenWorkerTools } from './adapters/vercel-ai';
export { wardenLangChainTools, wardenLangChainWorkerTools } from './adapters/langchain';
export { wardenToolName } from './adapters/names';
export { runAgentCommand, AGENT_USAGE, type AgentCommandIo } from './cli/agent-command';
export {
  startFakeModelServer,
  FakeModelServer,
  type FakeModelServerOptions,
  type RecordedRequest,
  type ScriptStep,
  type ScriptedTurn,
} from './testing/fake-model-server';
