// Shared helpers for tests: random names, polling, config/logger, Kafka topics and consumption.
export { randomName } from './random.ts';
export { waitFor, type WaitForOptions } from './wait.ts';
export { testConfig, testLogger } from './config.ts';
export { consumeMessages, createTestTopic, deleteTestTopics, testKafka, type ConsumedMessage, type TestTopicOptions } from './kafka.ts';
