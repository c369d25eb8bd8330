package broker

import (
	"fmt"
	"strconv"
	"strings"
)

// maxPartitions bounds what ParseTopics and Start accept; more is a typo.
const maxPartitions = 10000

// ParseTopics parses a comma-separated list of NAME:PARTITIONS, e.g.
// "orders:4,dlq:1". A bare NAME means one partition. Spaces around items are
// ignored; an empty string yields no topics. Names follow Kafka's rules
// (1-249 characters of [a-zA-Z0-9._-], not "." or ".."); a name may appear
// once.
func ParseTopics(s string) ([]Topic, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var ts []Topic
	seen := map[string]bool{}
	for i, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("topics: item %d is empty (want NAME:PARTITIONS[,...])", i+1)
		}
		t := Topic{Name: item, Partitions: 1}
		if name, parts, ok := strings.Cut(item, ":"); ok {
			t.Name = strings.TrimSpace(name)
			n, err := strconv.Atoi(strings.TrimSpace(parts))
			if err != nil {
				return nil, fmt.Errorf("topics: %q: partitions %q is not a whole number", item, parts)
			}
			t.Partitions = n
		}
		if err := t.validate(); err != nil {
			return nil, err
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("topics: %q is listed twice", t.Name)
		}
		seen[t.Name] = true
		ts = append(ts, t)
	}
	return ts, nil
}

// String formats t as NAME:PARTITIONS, the form ParseTopics reads.
func (t Topic) String() string { return t.Name + ":" + strconv.Itoa(t.Partitions) }

func (t Topic) validate() error {
	switch {
	case t.Name == "":
		return fmt.Errorf("topics: empty topic name")
	case len(t.Name) > 249:
		return fmt.Errorf("topics: name %.20q... is longer than 249 characters", t.Name)
	case t.Name == "." || t.Name == "..":
		return fmt.Errorf("topics: %q is not a valid topic name", t.Name)
	case t.Partitions < 1 || t.Partitions > maxPartitions:
		return fmt.Errorf("topics: %q: partitions must be between 1 and %d, got %d", t.Name, maxPartitions, t.Partitions)
	}
	for _, r := range t.Name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("topics: name %q: character %q not allowed (use a-z A-Z 0-9 . _ -)", t.Name, r)
		}
	}
	return nil
}
