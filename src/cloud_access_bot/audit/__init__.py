"""Answers for auditors: queries over the stored requests and events, exports, chain checks."""
