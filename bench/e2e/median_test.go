package e2e

import (
	"reflect"
	"testing"
)

func TestMedianResults(t *testing.T) {
	rounds := []Result{
		{Target: "gh", Workload: "list", Connections: 16, Used: 16, Requests: 100, RPS: 3000, P50: 5, P99: 90, Round: 1},
		{Target: "gh", Workload: "get", Connections: 16, Used: 16, Requests: 10, RPS: 9000, P99: 10, Round: 1},
		{Target: "gh", Workload: "list", Connections: 16, Used: 15, Requests: 200, RPS: 1000, P50: 7, P99: 30, Errors: 2, Round: 2},
		{Target: "gh", Workload: "list", Connections: 16, Used: 16, Requests: 300, RPS: 2000, P50: 6, P99: 60, Non2xx: 1, Round: 3},
		{Target: "gh", Workload: "get", Connections: 16, Used: 16, Requests: 20, RPS: 7000, P99: 30, Round: 2},
	}
	got := MedianResults(rounds)
	want := []Result{
		{Target: "gh", Workload: "list", Connections: 16, Used: 15, Requests: 600, RPS: 2000, P50: 6, P99: 60, Errors: 2, Non2xx: 1, Of: 3},
		{Target: "gh", Workload: "get", Connections: 16, Used: 16, Requests: 30, RPS: 8000, P99: 20, Of: 2},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if MedianResults(nil) == nil || len(MedianResults(nil)) != 0 {
		t.Fatal("MedianResults(nil) should be empty")
	}
}
