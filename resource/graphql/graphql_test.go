package graphql_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"gatehouse.dev/internal/dbtest"
	"gatehouse.dev/internal/uuid"
	"gatehouse.dev/resource"
	"gatehouse.dev/resource/graphql"
)

// TestReferenceShapes runs the second reference's request shapes, adapted
// to the test resources, on SQLite and PostgreSQL.
func TestReferenceShapes(t *testing.T) {
	t.Parallel()
	dbtest.Databases(t, func(t *testing.T, db dbtest.DB) {
		t.Parallel()
		e := newEnv(t, db, graphql.Options{})
		org, other := uuid.New(), uuid.New()
		client := e.create(org, "clients", `{"first_name":"Cleo","last_name":"Client","email":"cleo@example.com"}`)
		var leads []string
		for i := range 5 {
			leads = append(leads, e.create(org, "leads", fmt.Sprintf(`{"first_name":"L%d","status":"new","client_id":%q,"score":%d,"hot":true,"budget":1.5}`, i, client, 9007199254740993+i)))
		}
		foreign := e.create(other, "leads", `{"first_name":"Foreign"}`)

		// First page, then the next one with after.
		q := `query($after: String) { leads(first: 2, after: $after) { nodes { id databaseId firstName leadNumber score hot budget client { firstName } } pageInfo { hasNextPage hasPreviousPage endCursor } } }`
		r := e.post(org, e.all, q, nil)
		if r.Code != http.StatusOK || len(r.Errors) != 0 {
			t.Fatalf("first page: %d %s", r.Code, r.Raw)
		}
		nodes, _ := get(r.Data, "leads", "nodes").([]any)
		if len(nodes) != 2 || get(nodes, 0, "firstName") != "L4" || get(nodes, 0, "client", "firstName") != "Cleo" {
			t.Fatalf("first page: %s", r.Raw)
		}
		if get(nodes, 0, "databaseId") != leads[4] || get(nodes, 0, "id") != graphql.EncodeID("leads", leads[4]) {
			t.Errorf("ids: %s", r.Raw)
		}
		if get(nodes, 0, "leadNumber") != "5" || get(nodes, 0, "score") != "9007199254740997" || get(nodes, 0, "hot") != true || get(nodes, 0, "budget") != 1.5 {
			t.Errorf("scalars: %s", r.Raw)
		}
		if get(r.Data, "leads", "pageInfo", "hasNextPage") != true || get(r.Data, "leads", "pageInfo", "hasPreviousPage") != false {
			t.Errorf("pageInfo: %s", r.Raw)
		}
		end, _ := get(r.Data, "leads", "pageInfo", "endCursor").(string)
		r = e.post(org, e.all, q, map[string]any{"after": end})
		if nodes, _ := get(r.Data, "leads", "nodes").([]any); len(nodes) != 2 || get(nodes, 0, "firstName") != "L2" || get(r.Data, "leads", "pageInfo", "hasPreviousPage") != true {
			t.Fatalf("second page: %s", r.Raw)
		}
		if len(r.Errors) != 0 {
			t.Fatalf("second page: %s", r.Raw)
		}

		// lead(id:) and node(id:), with fragments, aliases, __typename.
		q = `query($id: EncodedId!) {
			lead(id: $id) { ...L }
			n: node(id: $id) { __typename id ... on Lead { firstName client { id firstName } } }
		}
		fragment L on Lead { id firstName clientId }`
		r = e.post(org, e.all, q, map[string]any{"id": graphql.EncodeID("leads", leads[0])})
		if len(r.Errors) != 0 || get(r.Data, "lead", "firstName") != "L0" || get(r.Data, "n", "__typename") != "Lead" ||
			get(r.Data, "n", "client", "id") != graphql.EncodeID("clients", client) || get(r.Data, "lead", "clientId") != graphql.EncodeID("clients", client) {
			t.Fatalf("lead/node: %s", r.Raw)
		}

		// Another organization's id, a malformed one, one of another
		// resource: null and "Not found".
		for _, id := range []string{graphql.EncodeID("leads", foreign), "!!", graphql.EncodeID("clients", client)} {
			r = e.post(org, e.all, `query($id: EncodedId!) { lead(id: $id) { id } }`, map[string]any{"id": id})
			if !r.HasData || get(r.Data, "lead") != nil || len(r.Errors) != 1 || r.Errors[0]["message"] != "Not found" ||
				get(r.Errors[0], "extensions", "code") != "NOT_FOUND" {
				t.Errorf("lead(%s): %s", id, r.Raw)
			}
		}
		r = e.post(other, e.all, `query($id: EncodedId!) { node(id: $id) { id } }`, map[string]any{"id": graphql.EncodeID("leads", leads[0])})
		if get(r.Data, "node") != nil || len(r.Errors) != 1 {
			t.Errorf("cross-org node: %s", r.Raw)
		}

		// leadCreate with a bad email: userErrors with the registry's message.
		create := `mutation($input: LeadCreateInput!) { leadCreate(input: $input) { lead { id firstName email client { firstName } } userErrors { message path } } }`
		r = e.post(org, e.all, create, map[string]any{"input": map[string]any{"firstName": "New", "email": "not-an-email"}})
		ue, _ := get(r.Data, "leadCreate", "userErrors").([]any)
		if r.Code != http.StatusOK || len(ue) != 1 || get(r.Data, "leadCreate", "lead") != nil ||
			get(ue, 0, "message") != "must be an email address without a display name" || !slices.Equal(toStrings(get(ue, 0, "path")), []string{"input", "email"}) {
			t.Fatalf("leadCreate bad email: %d %s", r.Code, r.Raw)
		}
		r = e.post(org, e.all, create, map[string]any{"input": map[string]any{"firstName": "New", "email": "new@example.com", "clientId": graphql.EncodeID("clients", client)}})
		if get(r.Data, "leadCreate", "lead", "client", "firstName") != "Cleo" || len(get(r.Data, "leadCreate", "userErrors").([]any)) != 0 {
			t.Fatalf("leadCreate: %s", r.Raw)
		}
		newID, _ := get(r.Data, "leadCreate", "lead", "id").(string)
		// A client of another organization, and a malformed id.
		foreignClient := e.create(other, "clients", `{"first_name":"X"}`)
		for _, id := range []string{graphql.EncodeID("clients", foreignClient), "nope"} {
			r = e.post(org, e.all, create, map[string]any{"input": map[string]any{"clientId": id}})
			ue, _ = get(r.Data, "leadCreate", "userErrors").([]any)
			if len(ue) != 1 || get(ue, 0, "message") != "Invalid foreign key" || !slices.Equal(toStrings(get(ue, 0, "path")), []string{"input", "clientId"}) {
				t.Errorf("foreign key %s: %s", id, r.Raw)
			}
		}
		// Required fields come back as userErrors too.
		r = e.post(org, e.all, `mutation { clientCreate(input: {lastName: "x"}) { client { id } userErrors { message path } } }`, nil)
		if ue, _ := get(r.Data, "clientCreate", "userErrors").([]any); len(ue) != 1 || get(ue, 0, "message") != "is required" ||
			!slices.Equal(toStrings(get(ue, 0, "path")), []string{"input", "firstName"}) {
			t.Errorf("required: %s", r.Raw)
		}

		// leadUpdate: absent fields stay, null clears.
		update := `mutation($id: EncodedId!, $input: LeadUpdateInput!) { leadUpdate(leadId: $id, input: $input) { lead { firstName email status } userErrors { message path } } }`
		r = e.post(org, e.all, update, map[string]any{"id": newID, "input": map[string]any{"email": nil, "status": "won"}})
		if get(r.Data, "leadUpdate", "lead", "firstName") != "New" || get(r.Data, "leadUpdate", "lead", "email") != nil ||
			get(r.Data, "leadUpdate", "lead", "status") != "won" {
			t.Fatalf("leadUpdate: %s", r.Raw)
		}
		r = e.post(org, e.all, update, map[string]any{"id": newID, "input": map[string]any{}})
		if ue, _ := get(r.Data, "leadUpdate", "userErrors").([]any); len(ue) != 1 || get(ue, 0, "message") != "No fields to update" {
			t.Errorf("empty update: %s", r.Raw)
		}
		r = e.post(other, e.all, update, map[string]any{"id": newID, "input": map[string]any{"status": "x"}})
		if ue, _ := get(r.Data, "leadUpdate", "userErrors").([]any); len(ue) != 1 || get(ue, 0, "message") != "Not found" ||
			!slices.Equal(toStrings(get(ue, 0, "path")), []string{"leadId"}) {
			t.Errorf("cross-org update: %s", r.Raw)
		}

		// A forbidden root field next to an allowed one; a forbidden
		// nested reference.
		r = e.post(org, []string{"leads:read"}, `{ leads(first: 1) { nodes { firstName client { firstName } } } clients { nodes { id } } }`, nil)
		if get(r.Data, "clients") != nil || get(r.Data, "leads", "nodes", 0, "firstName") == nil || get(r.Data, "leads", "nodes", 0, "client") != nil || len(r.Errors) != 2 {
			t.Fatalf("forbidden: %s", r.Raw)
		}
		for _, er := range r.Errors {
			if get(er, "extensions", "code") != "FORBIDDEN" || get(er, "extensions", "required_scope") != "clients:read" {
				t.Errorf("forbidden error: %v", er)
			}
		}
		// Mutations need create/update only.
		r = e.post(org, []string{"leads:create"}, create, map[string]any{"input": map[string]any{"firstName": "Only create"}})
		if get(r.Data, "leadCreate", "lead", "firstName") != "Only create" || len(r.Errors) != 1 ||
			!slices.Equal(toStrings(get(r.Errors[0], "path")), []string{"leadCreate", "lead", "client"}) {
			t.Errorf("create-only key: %s", r.Raw)
		}

		// Malformed queries: errors with locations, no data, 400.
		for _, bad := range []string{`{ leads { nodes { nope } } }`, `{ leads(first: 1 { id } }`, `query { lead { id } }`} {
			r = e.post(org, e.all, bad, nil)
			if r.Code != http.StatusBadRequest || r.HasData || len(r.Errors) == 0 || get(r.Errors[0], "locations", 0, "line") == nil {
				t.Errorf("%s: %d %s", bad, r.Code, r.Raw)
			}
		}
		// With plain application/json the same answer is 200.
		r = e.raw(callerCtx(org, e.all), http.MethodPost, `{"query":"{ nope }"}`, map[string]string{"Content-Type": "application/json"})
		if r.Code != http.StatusOK || r.Header.Get("Content-Type") != "application/json" || len(r.Errors) != 1 {
			t.Errorf("application/json: %d %s", r.Code, r.Raw)
		}
	})
}

func toStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

var _ = json.Marshal
var _ = strings.Contains
var _ resource.Record
