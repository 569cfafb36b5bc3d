package host

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics exposes a Listen's counters to Prometheus: the plugin's (as it
// last reported them) and the host's own commits. Every value is read
// when scraped; nothing is kept twice.
type Metrics struct {
	h *ListenHost

	received, acked, unacked, verified, rejected, other, ack *prometheus.Desc
	committed, commitFailed, profiles                        *prometheus.Desc
}

// NewMetrics returns the collector of h's counters.
func NewMetrics(h *ListenHost) *Metrics {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("wxsync_listen_"+name, help, labels, nil)
	}
	return &Metrics{
		h:            h,
		received:     d("events_received_total", "Follow events accepted (signature, decryption and XML good), WeChat's retries included."),
		acked:        d("events_acknowledged_total", "Follow events answered success, each after its commit returned."),
		unacked:      d("events_unacknowledged_total", "Follow events answered 503 (commit failed or late): WeChat retries them."),
		verified:     d("url_verifications_total", "GET verifications of the push URL answered."),
		rejected:     d("requests_rejected_total", "Requests refused, by reason (connector/push).", "reason"),
		other:        d("other_pushes_total", "Accepted pushes that are not follow events (acknowledged, not stored), by type.", "type"),
		ack:          d("ack_latency_seconds", "Time from a follow event's arrival to its answer."),
		committed:    d("events_committed_total", "Follow event rows committed to ClickHouse (a retried event may count twice; the table keeps one)."),
		commitFailed: d("commits_failed_total", "Commits to ClickHouse that failed."),
		profiles:     d("profiles_committed_total", "New followers' profiles fetched and committed to wechat_users."),
	}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.received, m.acked, m.unacked, m.verified, m.rejected, m.other, m.ack, m.committed, m.commitFailed, m.profiles} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	st := m.h.Stats()
	events, users, failed := m.h.Committed()
	counter := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(m.received, st.Received)
	counter(m.acked, st.Acknowledged)
	counter(m.unacked, st.Unacknowledged)
	counter(m.verified, st.Verified)
	for reason, n := range st.Rejected {
		counter(m.rejected, n, reason)
	}
	for kind, n := range st.Other {
		counter(m.other, n, kind)
	}
	counter(m.committed, events)
	counter(m.commitFailed, failed)
	counter(m.profiles, users)
	if len(st.AckBounds) == len(st.AckCounts) {
		buckets := make(map[float64]uint64, len(st.AckBounds))
		for i, b := range st.AckBounds {
			buckets[b] = st.AckCounts[i]
		}
		ch <- prometheus.MustNewConstHistogram(m.ack, st.AckCount, st.AckSum, buckets)
	}
}
