"""Bot configs shared by the unit tests (imported by test modules)."""

#: Three mistakes at once: a misspelt region, an 11-digit account number, a malformed role ARN.
THREE_MISTAKES = """\
loginRoles: [Dev]
approvalGroups: [devops]
regions: [eu-west-1, eu-wset-2]
accounts:
  dev:
    account_number: "12345678901"
    iam_role: arn:aws:iam::111122223333:role/bot
  prod:
    account_number: "444455556666"
    iam_role: "arn:aws:iam:444455556666:role/bot"
"""
