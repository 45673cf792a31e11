"""cloud-access-bot: time-limited AWS access approved in Slack."""
