// services started inside tests log only errors unless TEST_LOG_LEVEL says otherwise
process.env.LOG_LEVEL = process.env.TEST_LOG_LEVEL ?? 'error';
