package tenancy_test

import (
	"fmt"

	"gatehouse.dev/tenancy"
)

// Organization ids of the host's own types, as the admin API checks them.
func ExampleOrgIDType() {
	for _, id := range []string{"42", "007", "acme.eu:42"} {
		fmt.Println(id, tenancy.OrgIDInteger.Valid(id), tenancy.OrgIDText.Valid(id))
	}
	fmt.Println(tenancy.OrgIDInteger.Rule())
	// Output:
	// 42 true true
	// 007 false true
	// acme.eu:42 false true
	// must be a non-negative integer in decimal, without sign or leading zeros
}
