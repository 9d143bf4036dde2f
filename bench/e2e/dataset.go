package e2e

import (
	"encoding/csv"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"time"

	"gatehouse.dev/internal/uuid"
)

// Lead is one seeded lead. Org is the index of its organization in the
// organization list given to [Seed] or [WriteCSV], so one data set serves
// every target.
type Lead struct {
	ID         string // UUID (v4, as the registry's create makes them)
	Org        int
	Number     int64 // lead_number, 1.. per organization
	FirstName  string
	LastName   string
	Phone      string
	Email      string
	Address    string
	City       string
	State      string
	PostalCode string
	Status     string
	JobType    string
	AdSource   string
	Notes      string
	CreatedAt  time.Time // UTC, whole microseconds
}

// StatusWon is the status of every tenth lead of each organization.
const StatusWon = "Won"

// DatasetOptions configures [NewDataset].
type DatasetOptions struct {
	// Orgs is the number of organizations; zero means 2.
	Orgs int
	// PerOrg is the number of leads per organization; zero means 10,000.
	PerOrg int
	// End is the creation time of the newest lead; the zero value means
	// the start of the current hour, UTC.
	End time.Time
	// Seed makes the names, phones and addresses reproducible; ids are
	// always fresh.
	Seed uint64
}

var (
	firstNames = []string{"Ann", "Bob", "Carla", "Dmitri", "Emeka", "Fatima", "Gus", "Hana", "Ivan", "Jun", "Keisha", "Luis", "Mara", "Nils", "Olga", "Priya"}
	lastNames  = []string{"Smith", "Garcia", "Nguyen", "Okafor", "Kowalski", "Haddad", "Tanaka", "Rossi", "Jensen", "Moreau", "Silva", "Cohen"}
	cities     = [][2]string{{"Austin", "TX"}, {"Denver", "CO"}, {"Miami", "FL"}, {"Portland", "OR"}, {"Columbus", "OH"}, {"Phoenix", "AZ"}}
	jobTypes   = []string{"Locksmith", "Plumbing", "Electrical", "HVAC", "Garage Door"}
	adSources  = []string{"Google Ads", "Yelp", "Referral", "Website", "Angi"}
	// otherStatuses are the statuses of the leads that are not Won.
	otherStatuses = []string{"New", "Contacted", "Scheduled", "Quoted", "Lost"}
)

// NewDataset returns the leads of every organization, oldest first, one
// second apart and interleaved across organizations (so the newest rows of
// the table belong to all of them). Lead i of each organization (0-based,
// oldest first) has status Won when i%10 == 0, one of the other statuses
// otherwise.
func NewDataset(o DatasetOptions) []Lead {
	if o.Orgs <= 0 {
		o.Orgs = 2
	}
	if o.PerOrg <= 0 {
		o.PerOrg = 10_000
	}
	if o.End.IsZero() {
		o.End = time.Now().UTC().Truncate(time.Hour)
	}
	rng := rand.New(rand.NewPCG(o.Seed, 0x6761746568))
	total := o.Orgs * o.PerOrg
	start := o.End.UTC().Truncate(time.Microsecond).Add(-time.Duration(total-1) * time.Second)
	out := make([]Lead, 0, total)
	for i := range o.PerOrg {
		for org := range o.Orgs {
			first := firstNames[rng.IntN(len(firstNames))]
			last := lastNames[rng.IntN(len(lastNames))]
			city := cities[rng.IntN(len(cities))]
			status := otherStatuses[i%len(otherStatuses)]
			if i%10 == 0 {
				status = StatusWon
			}
			out = append(out, Lead{
				ID:         uuid.New(),
				Org:        org,
				Number:     int64(i + 1),
				FirstName:  first,
				LastName:   last,
				Phone:      fmt.Sprintf("+1555%07d", rng.IntN(10_000_000)),
				Email:      fmt.Sprintf("%s.%s.%d@example.com", lower(first), lower(last), i),
				Address:    strconv.Itoa(100+rng.IntN(9900)) + " Main St",
				City:       city[0],
				State:      city[1],
				PostalCode: fmt.Sprintf("%05d", rng.IntN(100_000)),
				Status:     status,
				JobType:    jobTypes[rng.IntN(len(jobTypes))],
				AdSource:   adSources[rng.IntN(len(adSources))],
				Notes:      "Seeded by the e2e benchmark.",
				CreatedAt:  start.Add(time.Duration(len(out)) * time.Second),
			})
		}
	}
	return out
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// csvHeader names the columns of [WriteCSV]; they are the PocketBase leads
// collection's field names.
var csvHeader = []string{"org", "created", "first_name", "last_name", "phone", "email", "address", "city", "state", "postal_code", "status", "job_type", "ad_source", "notes"}

// WriteCSV writes leads as CSV with a header row, for the PocketBase seed
// command: the organization column holds orgs[lead.Org], created is RFC 3339
// in UTC with milliseconds (PocketBase's precision).
func WriteCSV(w io.Writer, leads []Lead, orgs []string) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	for _, l := range leads {
		if l.Org < 0 || l.Org >= len(orgs) {
			return fmt.Errorf("e2e: lead %s: organization %d of %d", l.ID, l.Org, len(orgs))
		}
		if err := cw.Write([]string{
			orgs[l.Org], l.CreatedAt.UTC().Format("2006-01-02T15:04:05.000Z"),
			l.FirstName, l.LastName, l.Phone, l.Email, l.Address, l.City, l.State, l.PostalCode,
			l.Status, l.JobType, l.AdSource, l.Notes,
		}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// Pick returns n values of ids evenly spaced over the whole slice (all of
// them when there are at most n), keeping their order.
func Pick(ids []string, n int) []string {
	if n <= 0 || len(ids) <= n {
		return append([]string(nil), ids...)
	}
	out := make([]string, n)
	for i := range out {
		out[i] = ids[i*len(ids)/n]
	}
	return out
}
