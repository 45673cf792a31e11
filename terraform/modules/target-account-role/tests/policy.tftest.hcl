# terraform test (mock provider, no AWS account): what the role may do in each access mode.
# The enforced-IAM tests (tests/iam/) run the same templates against moto with IAM on.

mock_provider "aws" {
  override_data {
    target = data.aws_caller_identity.current
    values = { account_id = "111111111111" }
  }
  override_data {
    target = data.aws_partition.current
    values = { partition = "aws" }
  }
}

variables {
  bot_task_role_arn = "arn:aws:iam::999999999999:role/cloud-access-bot-task"
  login_role_names  = ["Developer"]
}

run "inline_policy_writes_only_login_roles" {
  override_resource {
    target = aws_iam_role.this
    values = { arn = "arn:aws:iam::111111111111:role/cloud-access-bot" }
  }

  assert {
    condition     = output.role_arn == "arn:aws:iam::111111111111:role/cloud-access-bot"
    error_message = "role_arn is not the bot's role"
  }
  assert {
    condition     = output.broker_role_arn == null && output.managed_policy_arn == null
    error_message = "inline_policy mode created a broker role or a grants policy"
  }
  assert {
    condition     = jsondecode(aws_iam_role.this.assume_role_policy).Statement[0].Principal.AWS == var.bot_task_role_arn
    error_message = "the role does not trust exactly the bot's task role"
  }
  assert {
    condition = one([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Resource if s.Sid == "ManageGrantsOnLoginRoles"]) == [
      "arn:aws:iam::111111111111:role/Developer",
      "arn:aws:iam::111111111111:role/*/Developer",
    ]
    error_message = "role writes are not limited to the login roles"
  }
  assert {
    condition = one([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s if s.Sid == "NeverTheBotsOwnRoles"]) == {
      Sid      = "NeverTheBotsOwnRoles"
      Effect   = "Deny"
      Action   = "iam:*"
      Resource = ["arn:aws:iam::111111111111:role/cloud-access-bot", "arn:aws:iam::111111111111:role/cloud-access-bot-broker"]
    }
    error_message = "the bot's own role and the broker role are not denied"
  }
  assert {
    condition = one([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.NotResource if s.Sid == "NoRoleOutsideTheLoginRoles"]) == [
      "arn:aws:iam::111111111111:role/Developer",
      "arn:aws:iam::111111111111:role/*/Developer",
    ]
    error_message = "role writes outside the login roles are not denied"
  }
  assert {
    condition = one([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Condition if s.Sid == "AttachOnlyTheBotsPolicies"]) == {
      ArnNotLike = { "iam:PolicyARN" = "arn:aws:iam::111111111111:policy/cloud-access-bot/*" }
    }
    error_message = "attaching a policy outside /cloud-access-bot/ is not denied"
  }
  assert {
    condition     = !strcontains(aws_iam_role_policy.this.policy, "iam:ListRoles") && !strcontains(aws_iam_role_policy.this.policy, "sts:AssumeRole")
    error_message = "inline_policy mode got managed_policy or session_credentials permissions"
  }
}

run "managed_policy_creates_the_grants_policy_first" {
  variables {
    access_mode      = "managed_policy"
    login_role_names = ["AWSReservedSSO_Developer_*"]
  }

  override_resource {
    target = aws_iam_policy.grants
    values = { arn = "arn:aws:iam::111111111111:policy/cloud-access-bot/cloud-access-bot-grants" }
  }

  assert {
    condition     = output.managed_policy_arn == "arn:aws:iam::111111111111:policy/cloud-access-bot/cloud-access-bot-grants"
    error_message = "managed_policy mode did not create the grants policy"
  }
  assert {
    condition     = aws_iam_policy.grants[0].path == "/cloud-access-bot/" && jsondecode(aws_iam_policy.grants[0].policy).Statement[0].Sid == "NoActiveGrants"
    error_message = "the grants policy is not the bot's empty placeholder under /cloud-access-bot/"
  }
  assert {
    condition     = one([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Action if s.Sid == "FindIdentityCenterRoles"]) == "iam:ListRoles"
    error_message = "managed_policy mode cannot find the IAM Identity Center roles (iam:ListRoles)"
  }
  assert {
    condition     = one([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Resource if s.Sid == "MaintainGrantsPolicy"]) == "arn:aws:iam::111111111111:policy/cloud-access-bot/cloud-access-bot-grants"
    error_message = "the grants policy permissions are not limited to that policy"
  }
  assert {
    condition     = one([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Effect if s.Sid == "NoRoleWrites"]) == "Deny"
    error_message = "managed_policy mode may write roles"
  }
}

run "session_credentials_creates_a_broker_trusting_only_the_bots_role" {
  variables {
    access_mode             = "session_credentials"
    login_role_names        = []
    broker_role_policy_arns = ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
  }

  override_resource {
    target = aws_iam_role.broker
    values = { arn = "arn:aws:iam::111111111111:role/cloud-access-bot-broker" }
  }

  assert {
    condition     = output.broker_role_arn == "arn:aws:iam::111111111111:role/cloud-access-bot-broker"
    error_message = "session_credentials mode did not create the broker role"
  }
  assert {
    condition     = jsondecode(aws_iam_role.broker[0].assume_role_policy).Statement[0].Principal.AWS == "arn:aws:iam::111111111111:role/cloud-access-bot"
    error_message = "the broker does not trust exactly the bot's role in this account"
  }
  assert {
    condition     = one([for s in jsondecode(aws_iam_role_policy.this.policy).Statement : s.Resource if s.Sid == "AssumeBrokerRole"]) == "arn:aws:iam::111111111111:role/cloud-access-bot-broker"
    error_message = "the bot's role may not assume the broker"
  }
}

run "login_roles_are_required_to_write_grants" {
  command = plan

  variables {
    login_role_names = []
  }

  expect_failures = [aws_iam_role_policy.this]
}
