locals {
  # Placeholders: an application gateway cannot exist without one listener, pool and rule. The
  # ingress add-on (AGIC) replaces them from the cluster's Ingress objects, so Terraform ignores
  # them after creation (see lifecycle below).
  placeholder = "placeholder-replaced-by-agic"

  # Internal: every listener sits on the private frontend. The public frontend stays because Azure
  # refuses a v2 gateway without one unless the subscription has the EnableApplicationGatewayNetworkIsolation
  # feature registered (learn.microsoft.com/troubleshoot/azure/application-gateway/error-codes/
  # application-gateway-frontend-ip-cannot-have-public-ip-subnet-error); with no listener on it,
  # nothing answers there.
  internal          = var.private_ip_address != null
  listener_frontend = local.internal ? "private" : "public"
}

resource "azurerm_public_ip" "frontend" {
  name                = "pip-${var.name}"
  location            = var.location
  resource_group_name = var.resource_group_name
  allocation_method   = "Static"
  sku                 = "Standard"
  zones               = var.zones
  tags                = var.tags
}

resource "azurerm_web_application_firewall_policy" "this" {
  # checkov:skip=CKV_AZURE_135: Microsoft_DefaultRuleSet 2.1 includes the Log4j (CVE-2021-44228) rule 944240; the check only recognises the OWASP rule sets.
  name                = "waf-${var.name}"
  location            = var.location
  resource_group_name = var.resource_group_name
  tags                = var.tags

  policy_settings {
    enabled                     = true
    mode                        = var.waf_mode
    request_body_check          = true
    max_request_body_size_in_kb = 128
    file_upload_limit_in_mb     = 10
  }

  managed_rules {
    managed_rule_set {
      type    = "Microsoft_DefaultRuleSet"
      version = "2.1"
    }
    managed_rule_set {
      type    = "Microsoft_BotManagerRuleSet"
      version = "1.1"
    }
  }
}

resource "azurerm_application_gateway" "this" {
  # checkov:skip=CKV_AZURE_217: The HTTP listener is a placeholder the ingress add-on replaces with HTTPS listeners from the Ingress TLS settings.
  name                = var.name
  location            = var.location
  resource_group_name = var.resource_group_name
  zones               = var.zones
  firewall_policy_id  = azurerm_web_application_firewall_policy.this.id
  tags                = var.tags

  sku {
    name = "WAF_v2"
    tier = "WAF_v2"
  }

  autoscale_configuration {
    min_capacity = var.capacity.min
    max_capacity = var.capacity.max
  }

  ssl_policy {
    policy_type = "Predefined"
    policy_name = "AppGwSslPolicy20220101S"
  }

  gateway_ip_configuration {
    name      = "gateway"
    subnet_id = var.subnet_id
  }

  frontend_ip_configuration {
    name                 = "public"
    public_ip_address_id = azurerm_public_ip.frontend.id
  }

  # A v2 gateway's private frontend address must be static, from its own subnet
  # (learn.microsoft.com/azure/application-gateway/configuration-frontend-ip).
  dynamic "frontend_ip_configuration" {
    for_each = local.internal ? [var.private_ip_address] : []
    content {
      name                          = "private"
      subnet_id                     = var.subnet_id
      private_ip_address_allocation = "Static"
      private_ip_address            = frontend_ip_configuration.value
    }
  }

  frontend_port {
    name = "http"
    port = 80
  }

  backend_address_pool {
    name = local.placeholder
  }

  backend_http_settings {
    name                  = local.placeholder
    cookie_based_affinity = "Disabled"
    port                  = 80
    protocol              = "Http"
    request_timeout       = 30
  }

  http_listener {
    name                           = local.placeholder
    frontend_ip_configuration_name = local.listener_frontend
    frontend_port_name             = "http"
    protocol                       = "Http"
  }

  request_routing_rule {
    name                       = local.placeholder
    priority                   = 20000
    rule_type                  = "Basic"
    http_listener_name         = local.placeholder
    backend_address_pool_name  = local.placeholder
    backend_http_settings_name = local.placeholder
  }

  lifecycle {
    # Owned by the ingress add-on after creation; Terraform would otherwise undo every Ingress.
    ignore_changes = [
      backend_address_pool,
      backend_http_settings,
      frontend_port,
      http_listener,
      probe,
      redirect_configuration,
      request_routing_rule,
      rewrite_rule_set,
      ssl_certificate,
      url_path_map,
      tags["managed-by-k8s-ingress"],
      tags["last-updated-by-k8s-ingress"],
    ]
  }
}
