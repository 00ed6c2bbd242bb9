// Shared helpers for tests: random names, polling, config/logger, Kafka topics and consumption, record builders.
export { randomName } from './random.ts';
export { waitFor, type WaitForOptions } from './wait.ts';
export { testConfig, testLogger } from './config.ts';
export { committedOffsets, consumeMessages, createTestTopic, deleteTestTopics, readDlq, readTopic, symbolsInEveryPartition, testKafka,
  watchCommittedOffsets, type ConsumedMessage, type DeadLetterRead, type TestTopicOptions } from './kafka.ts';
export { bar, BAR_T0, DEFINITION, deleteEventRows, EVENT_T0, eventFactory, featureBar, HOUR, newEvent, randomSymbol, warmUpBar } from './fixtures.ts';
