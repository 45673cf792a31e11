"""Pure rules: no Slack, no AWS, no I/O."""
