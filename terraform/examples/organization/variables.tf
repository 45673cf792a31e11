variable "region" {
  description = "Region of the bot"
  type        = string
  default     = "eu-west-1"
}

variable "vpc_id" {
  description = "VPC of the bot"
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets with a NAT route to the internet (Slack)"
  type        = list(string)
}

variable "container_image" {
  description = "Bot image, pinned by tag or digest"
  type        = string
}

variable "organization_id" {
  description = "ID of the organisation whose accounts the bot offers (o-...)"
  type        = string
}

variable "management_account_role_arn" {
  description = "Role Terraform assumes to manage the management (or delegated-administrator) account"
  type        = string
}
