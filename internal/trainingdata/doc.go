// Package trainingdata reads and checks the JSON Lines files of Bedrock
// model customization jobs and scans them for sensitive data before any
// training starts.
//
// Read parses a training or validation file of a customization type:
// FINE_TUNING takes {"prompt", "completion"} records or the
// bedrock-conversation-2024 format, CONTINUED_PRE_TRAINING takes {"input"}
// records. It enforces Bedrock's limits (file size, record count, characters
// per record) and reports the first bad line as a *FormatError in Bedrock's
// wording where Bedrock has one. Errors never quote file content.
//
// Check does what Read does and also scans every decoded JSON string of
// every line (after \u unescaping, so escapes cannot hide digits) with
// internal/guard, the platform's one card-data and PII detector, producing
// a Macie-like pre-flight Report (scanner "strata-scan/1"; see
// shared/reference/customization.md §2). Card data blocks the file by
// default; PII is counted but does not block. A report holds types,
// counts and locations (line, record index, JSON path, rune column and
// length) but never a value: no digits, no last four, no hash.
//
// Both read the input once, line by line, with a bounded line length; only
// the decoded records are kept.
package trainingdata
