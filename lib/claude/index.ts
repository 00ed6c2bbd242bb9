// Claude, as every caller in marketstream uses it (the enricher's classifier and the graph producer's competitor
// finder): the client setup from config, the reading of API errors, the price table and the hourly budget (per
// process, or shared by a group in PostgreSQL).
export { claudeOptionsFromConfig, createClaudeClient, type ClaudeClient, type ClaudeClientOptions, type ClaudeTool } from './client.ts';
export { describeApiError, parseRetryAfter, type ApiFailure, type CallOutcome } from './errors.ts';
export { costUsd, MODEL_PRICES, parsePriceOverride, priceOf, tokensOf, UNKNOWN_MODEL_PRICE, type ModelPrice, type TokenCounts } from './pricing.ts';
export { closeFailedReservation, createHourlyBudget, processBudget, type Budget, type BudgetLimits, type BudgetReservation, type BudgetUsage, type HourlyBudget,
  type Reservation } from './budget.ts';
export { claudeBudgetScope, createSharedBudget, type SharedBudgetOptions } from './shared-budget.ts';
export { escapeText } from './untrusted.ts';
