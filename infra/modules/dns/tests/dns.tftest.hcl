mock_provider "azurerm" {}

variables {
  zone_name           = "dev.orderdesk.example.com"
  resource_group_name = "rg-orderdesk-test"
  hosts               = ["dev.orderdesk.example.com", "grafana.dev.orderdesk.example.com", "prometheus.dev.orderdesk.example.com"]
  target_ip           = "198.51.100.7"
  tags                = { environment = "test" }
}

run "one_record_per_host_pointing_at_the_gateway" {
  command = plan

  assert {
    condition     = toset([for record in azurerm_dns_a_record.host : record.name]) == toset(["@", "grafana", "prometheus"])
    error_message = "The apex and the grafana and prometheus names must each get a record."
  }
  assert {
    condition     = alltrue([for record in azurerm_dns_a_record.host : record.records == toset(["198.51.100.7"])])
    error_message = "Every record must point at target_ip."
  }
}

run "only_the_listed_authority_may_issue_certificates" {
  command = plan

  assert {
    condition     = [for record in azurerm_dns_caa_record.issuers[0].record : record.value] == ["letsencrypt.org"]
    error_message = "A CAA record must limit issuance to the listed authorities."
  }
}

run "rejects_a_bad_zone_name" {
  command = plan

  variables {
    zone_name = "Orderdesk..example"
    hosts     = ["Orderdesk..example"]
  }
  expect_failures = [var.zone_name]
}

run "rejects_a_host_outside_the_zone" {
  command = plan

  variables {
    hosts = ["grafana.orderdesk.example.org"]
  }
  expect_failures = [var.hosts]
}

run "rejects_no_hosts" {
  command = plan

  variables {
    hosts = []
  }
  expect_failures = [var.hosts]
}

run "rejects_a_target_that_is_not_an_ipv4_address" {
  command = plan

  variables {
    target_ip = "gateway.example.com"
  }
  expect_failures = [var.target_ip]
}

run "rejects_a_ttl_out_of_range" {
  command = plan

  variables {
    ttl = 5
  }
  expect_failures = [var.ttl]
}
