package main

import "gatehouse.dev/resource"

// The Joby API, declared. Everything else — routes, validation, filters,
// search, organization isolation, 405s and /schema — comes from the registry.

// The reference API's fields its backend owns (refused in every write body) and its 403 while an organization's API is off.
var protected, disabledMessage = []string{"id", "organization_id", "created_at", "updated_at", "lead_number", "auth_secret", "access_token",
	"migration_metadata", "source_call_sid", "source_message_sid"}, "Developer API is not enabled for this organization"

func str(name string) resource.Field { return resource.Field{Name: name, Type: resource.String} }

func text(name string) resource.Field {
	return resource.Field{Name: name, Type: resource.Text, MaxLength: 10000}
}

func contact() []resource.Field {
	return []resource.Field{str("first_name"), str("last_name"), str("phone"), {Name: "email", Type: resource.Email}}
}

func address() []resource.Field {
	return []resource.Field{str("address"), str("city"), str("state"), str("postal_code")}
}

func fields(groups ...[]resource.Field) []resource.Field {
	var out []resource.Field
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

func resources() []resource.Resource {
	return []resource.Resource{
		{
			Name: "leads", Singular: "lead",
			Fields: fields(
				[]resource.Field{{Name: "lead_number", Type: resource.Integer, Sequence: true, SequenceGaps: true}},
				contact(), address(),
				[]resource.Field{str("status"), str("sub_status"), str("job_type"), str("ad_source"),
					{Name: "scheduled_at", Type: resource.DateTime}, {Name: "client_id", Type: resource.UUID, References: "clients"}, text("notes")}),
			Filters: []string{"id", "lead_number", "status", "phone", "email", "client_id"},
			// status=… lists read their page from an index of their own.
			IndexedFilters: []string{"status"},
			Search:         []string{"first_name", "last_name", "phone", "email"},
		},
		{
			Name: "clients", Singular: "client",
			Fields: fields(
				[]resource.Field{str("first_name"), str("last_name"), str("company_name"), str("phone"), {Name: "email", Type: resource.Email}},
				address(),
				[]resource.Field{str("customer_type"), str("lead_source"), text("notes")}),
			Filters: []string{"id", "phone", "email"},
			Search:  []string{"first_name", "last_name", "phone", "email", "company_name"},
		},
		{
			Name: "appointments", Singular: "appointment",
			Fields: fields(contact(), []resource.Field{
				{Name: "appointment_date", Type: resource.Date, Required: true}, {Name: "appointment_time", Type: resource.Time}, {Name: "end_time", Type: resource.Time},
				str("status"), {Name: "lead_id", Type: resource.UUID, References: "leads"}, {Name: "job_type_id", Type: resource.UUID, References: "job_types"},
				{Name: "custom_fields", Type: resource.JSONObject}, text("notes"),
			}),
			Filters: []string{"id", "status", "phone", "email", "lead_id", "job_type_id"},
			Search:  []string{"first_name", "last_name", "phone", "email"},
		},
		{
			Name: "tasks", Singular: "task",
			Fields: []resource.Field{
				{Name: "title", Type: resource.String, Required: true}, text("description"), str("status"), str("priority"),
				{Name: "due_at", Type: resource.DateTime}, {Name: "assigned_to_email", Type: resource.Email},
				{Name: "lead_id", Type: resource.UUID, References: "leads"}, {Name: "client_id", Type: resource.UUID, References: "clients"},
			},
			Filters: []string{"id", "status", "priority", "assigned_to_email", "lead_id", "client_id"},
			Search:  []string{"title", "description"},
		},
	}
}
