# terraform test (mock provider, no AWS account): who may assume the reader role and what it may
# read. tests/iam/ runs the same templates against moto with IAM on.

mock_provider "aws" {
  override_data {
    target = data.aws_partition.current
    values = { partition = "aws" }
  }
}

variables {
  bot_task_role_arn = "arn:aws:iam::999999999999:role/cloud-access-bot-task"
}

run "trusts_only_the_bots_task_role" {
  assert {
    condition = jsondecode(aws_iam_role.this.assume_role_policy).Statement == [{
      Sid       = "CloudAccessBot"
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { AWS = "arn:aws:iam::999999999999:role/cloud-access-bot-task" }
    }]
    error_message = "the role does not trust exactly the bot's task role"
  }
  assert {
    condition     = aws_iam_role.this.name == "cloud-access-bot-organizations-reader"
    error_message = "the role is not named as docs/organizations.md says"
  }
}

run "reads_only_what_the_bot_lists" {
  assert {
    condition = jsondecode(aws_iam_role_policy.this.policy).Statement == [
      {
        Sid    = "WalkTheOrganizationTree"
        Effect = "Allow"
        Action = [
          "organizations:ListAccountsForParent",
          "organizations:ListOrganizationalUnitsForParent",
          "organizations:ListRoots",
        ]
        Resource = "*"
      },
      {
        Sid      = "ReadAccountTags"
        Effect   = "Allow"
        Action   = "organizations:ListTagsForResource"
        Resource = "arn:aws:organizations::*:account/o-*/*"
      },
    ]
    error_message = "the policy allows other Organizations actions than the bot's calls, or tags beyond accounts"
  }
}

run "without_tags_no_tag_reads" {
  variables {
    read_tags = false
  }

  assert {
    condition     = !strcontains(aws_iam_role_policy.this.policy, "ListTagsForResource")
    error_message = "read_tags = false still allows organizations:ListTagsForResource"
  }
  assert {
    condition     = length(jsondecode(aws_iam_role_policy.this.policy).Statement) == 1
    error_message = "read_tags = false left more than the tree walk"
  }
}

run "name_is_validated" {
  command = plan

  variables {
    name = "not a role name"
  }

  expect_failures = [var.name]
}
