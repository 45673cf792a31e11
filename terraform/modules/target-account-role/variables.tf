variable "name" {
  description = "Name of the role the bot assumes in this account (the account's iam_role in the bot config)"
  type        = string
  default     = "cloud-access-bot"
}

variable "bot_task_role_arn" {
  description = "ARN of the bot's ECS task role (output task_role_arn of the root module): the only principal trusted by the roles created here"
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", var.bot_task_role_arn))
    error_message = "bot_task_role_arn must be an IAM role ARN."
  }
}

variable "access_mode" {
  description = "The account's access_mode in the bot config: inline_policy, managed_policy (IAM Identity Center) or session_credentials. Decides what the role may do, and whether the grants policy or the broker role is created"
  type        = string
  default     = "inline_policy"

  validation {
    condition     = contains(["inline_policy", "managed_policy", "session_credentials"], var.access_mode)
    error_message = "access_mode must be inline_policy, managed_policy or session_credentials."
  }
}

variable "login_role_names" {
  description = "Names of the login roles the bot may put grants on (the config's loginRoles), without path; they match with or without a path. IAM wildcards allowed, e.g. AWSReservedSSO_Developer_* (managed_policy mode). Required in inline_policy and managed_policy mode"
  type        = list(string)
  default     = []
}

variable "managed_policy_name" {
  description = "Name of the customer managed policy the bot maintains in managed_policy mode (referenced by the IAM Identity Center permission sets); the config's managed_policy_name"
  type        = string
  default     = "cloud-access-bot-grants"
}

variable "managed_policy_path" {
  description = "Path of that policy; the config's managed_policy_path (set it there too: the bot's default is /)"
  type        = string
  default     = "/cloud-access-bot/"

  validation {
    condition     = can(regex("^/([A-Za-z0-9+=,.@_-]+/)*$", var.managed_policy_path))
    error_message = "managed_policy_path must start and end with / (e.g. /cloud-access-bot/)."
  }
}

variable "max_session_duration" {
  description = "Maximum session duration of the bot's role, in seconds"
  type        = number
  default     = 3600
}

variable "permissions_boundary" {
  description = "ARN of a permissions boundary policy set on the roles created here"
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource"
  type        = map(string)
  default     = {}
}

################################################################################
# Broker role (session_credentials mode)
################################################################################

variable "broker_role_name" {
  description = "Name of the broker role (session_credentials mode)"
  type        = string
  default     = "cloud-access-bot-broker"
}

variable "broker_role_policy_arns" {
  description = "Managed policies attached to the broker role. They are the ceiling of every session: a session gets the intersection of these and the grant's session policy (e.g. arn:aws:iam::aws:policy/PowerUserAccess)"
  type        = list(string)
  default     = []
}

variable "broker_max_session_duration" {
  description = "Maximum session duration of the broker role, in seconds. Sessions reached by role chaining are capped at 3600 by STS regardless"
  type        = number
  default     = 3600
}
