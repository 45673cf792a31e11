variable "name" {
  description = "Name of the role the bot assumes to list the organisation (organizations.iam_role in the bot config)"
  type        = string
  default     = "cloud-access-bot-organizations-reader"

  validation {
    condition     = can(regex("^[\\w+=,.@-]{1,64}$", var.name))
    error_message = "name must be an IAM role name: 1 to 64 letters, digits or +=,.@_-."
  }
}

variable "bot_task_role_arn" {
  description = "ARN of the bot's ECS task role (output task_role_arn of the root module): the only principal trusted by the role"
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", var.bot_task_role_arn))
    error_message = "bot_task_role_arn must be an IAM role ARN."
  }
}

variable "read_tags" {
  description = "Allow organizations:ListTagsForResource on the organisation's accounts; false when the bot config sets organizations.read_tags: false"
  type        = bool
  default     = true
}

variable "max_session_duration" {
  description = "Maximum session duration of the role, in seconds"
  type        = number
  default     = 3600

  validation {
    condition     = var.max_session_duration >= 3600 && var.max_session_duration <= 43200
    error_message = "max_session_duration must be between 3600 and 43200 seconds."
  }
}

variable "permissions_boundary" {
  description = "ARN of a permissions boundary policy set on the role"
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource"
  type        = map(string)
  default     = {}
}
