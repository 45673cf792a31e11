variable "name" {
  description = "Name of the role the bot assumes in the IAM Identity Center account (identity_center.iam_role in the bot config)"
  type        = string
  default     = "cloud-access-bot"
}

variable "bot_task_role_arn" {
  description = "ARN of the bot's ECS task role (output task_role_arn of the root module): the only principal trusted by the role"
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", var.bot_task_role_arn))
    error_message = "bot_task_role_arn must be an IAM role ARN."
  }
}

variable "instance_arn" {
  description = "ARN of the IAM Identity Center instance (identity_center.instance_arn)"
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:sso:::instance/(sso)?ins-[a-zA-Z0-9.-]{16}$", var.instance_arn))
    error_message = "instance_arn must look like arn:aws:sso:::instance/ssoins-<16 characters>."
  }
}

variable "identity_store_id" {
  description = "ID of the instance's identity store (identity_center.identity_store_id)"
  type        = string

  validation {
    condition     = can(regex("^d-[0-9a-f]{10}$|^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$", var.identity_store_id))
    error_message = "identity_store_id must look like d-<10 hex digits>."
  }
}

variable "permission_set_arns" {
  description = "ARNs of the permission sets the bot may assign (every accounts.*.permission_sets entry), arn:aws:sso:::permissionSet/ssoins-…/ps-…; nothing else can be assigned"
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.permission_set_arns : can(regex("^arn:aws[a-z-]*:sso:::permissionSet/(sso)?ins-[a-zA-Z0-9.-]{16}/ps-[a-zA-Z0-9.-]{16}$", arn))])
    error_message = "Each permission_set_arns entry must be a permission set ARN (arn:aws:sso:::permissionSet/ssoins-…/ps-…)."
  }
}

variable "account_ids" {
  description = "IDs of the accounts the bot may assign permission sets in (the account_number of every permission_set account)"
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.account_ids : can(regex("^[0-9]{12}$", id))])
    error_message = "Each account_ids entry must be a 12-digit AWS account ID."
  }
}

variable "request_permission_set_account_ids" {
  description = "IDs of the request_permission_set accounts: the bot may make permission sets (tagged managed-by = cloud-access-bot, named CAB-<request id>) and provision and assign them there; empty: no such permission"
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.request_permission_set_account_ids : can(regex("^[0-9]{12}$", id))])
    error_message = "Each request_permission_set_account_ids entry must be a 12-digit AWS account ID."
  }
}

variable "group_ids" {
  description = "Identity store IDs of the groups people may join for a while (identity_center.groups); no other group's members can be changed"
  type        = list(string)
  default     = []
}

variable "max_session_duration" {
  description = "Maximum session duration of the role, in seconds"
  type        = number
  default     = 3600
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
