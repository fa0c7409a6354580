//! The run's throughput over time: per second since the run started, the events and bytes
//! received, the answers sent, and the sessions live, completed and failed (the summary's
//! `series`).
//!
//! Kept without sharing on the hot path: each session counts its own activity, per second of
//! the run, in its [`Timeline`] (an add to a small `Vec` per event, no lock, no atomic), and the
//! run merges every timeline into a [`SeriesBuilder`] as its session finishes. The summary turns
//! that into [`SeriesPoint`]s, one per second of the run.

use std::time::Duration;

use serde::Serialize;

/// One second's counts of one session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    events: u32,
    bytes_in: u32,
    answers: u32,
}

/// One session's activity per second of the run. Times are offsets from the run's start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timeline {
    /// The second of the run `buckets[0]` counts.
    first: u64,
    buckets: Vec<Counts>,
    /// When its socket opened.
    opened: Option<Duration>,
    /// When the session was over (socket closed, or given up on).
    finished: Option<Duration>,
}

impl Timeline {
    fn at(&mut self, at: Duration) -> &mut Counts {
        let second = at.as_secs();
        if self.buckets.is_empty() {
            self.first = second;
        } else if second < self.first {
            // Offsets only grow within a session; kept correct all the same.
            let missing = usize::try_from(self.first - second).unwrap_or(usize::MAX);
            self.buckets.splice(0..0, std::iter::repeat_n(Counts::default(), missing));
            self.first = second;
        }
        let index = usize::try_from(second - self.first).unwrap_or(usize::MAX);
        if index >= self.buckets.len() {
            self.buckets.resize(index + 1, Counts::default());
        }
        &mut self.buckets[index]
    }

    /// A frame received at `at`: `events` messages (0 for a frame that is not one) of `bytes`.
    pub fn received(&mut self, at: Duration, events: u32, bytes: u64) {
        let counts = self.at(at);
        counts.events = counts.events.saturating_add(events);
        counts.bytes_in = counts.bytes_in.saturating_add(u32::try_from(bytes).unwrap_or(u32::MAX));
    }

    /// An answer sent at `at`.
    pub fn answer(&mut self, at: Duration) {
        let counts = self.at(at);
        counts.answers = counts.answers.saturating_add(1);
    }

    /// The socket opened at `at`.
    pub fn opened(&mut self, at: Duration) {
        self.opened = Some(at);
    }

    /// The session was over at `at`.
    pub fn finished(&mut self, at: Duration) {
        self.finished = Some(at);
    }
}

/// One second of the run, all sessions together.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Second {
    events: u64,
    bytes_in: u64,
    answers: u64,
    /// Seconds of open sockets within this second, summed over sessions.
    live_s: f64,
    completed: u64,
    failed: u64,
}

/// Sums the sessions' timelines as they finish.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeriesBuilder {
    seconds: Vec<Second>,
}

impl SeriesBuilder {
    fn second(&mut self, second: u64) -> &mut Second {
        let index = usize::try_from(second).unwrap_or(usize::MAX);
        if index >= self.seconds.len() {
            self.seconds.resize(index + 1, Second::default());
        }
        &mut self.seconds[index]
    }

    /// Adds a finished session's timeline; `completed`: whether it reached its end.
    pub fn add(&mut self, timeline: &Timeline, completed: bool) {
        for (second, counts) in (timeline.first..).zip(&timeline.buckets) {
            let sum = self.second(second);
            sum.events += u64::from(counts.events);
            sum.bytes_in += u64::from(counts.bytes_in);
            sum.answers += u64::from(counts.answers);
        }
        if let Some(finished) = timeline.finished {
            let sum = self.second(finished.as_secs());
            if completed {
                sum.completed += 1;
            } else {
                sum.failed += 1;
            }
        }
        if let (Some(opened), Some(closed)) = (timeline.opened, timeline.finished) {
            let (from, to) = (opened.as_secs_f64(), closed.as_secs_f64());
            for second in opened.as_secs()..=closed.as_secs() {
                let start = second as f64;
                let overlap = to.min(start + 1.0) - from.max(start);
                if overlap > 0.0 {
                    self.second(second).live_s += overlap;
                }
            }
        }
    }

    /// The series of a run that lasted `elapsed`: one point per second, the last one partial.
    pub fn points(&self, elapsed: Duration) -> Vec<SeriesPoint> {
        let run = elapsed.as_secs_f64();
        let count = (run.ceil() as usize).max(self.seconds.len());
        (0..count)
            .map(|index| {
                let sum = self.seconds.get(index).copied().unwrap_or_default();
                let start = index as f64;
                let span_s = round3((run - start).clamp(0.001, 1.0));
                SeriesPoint {
                    t_s: index as u64,
                    span_s,
                    events: sum.events,
                    bytes_in: sum.bytes_in,
                    answers: sum.answers,
                    live: round3(sum.live_s / span_s),
                    completed: sum.completed,
                    failed: sum.failed,
                }
            })
            .collect()
    }
}

/// One second of the run in the summary's `series`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SeriesPoint {
    /// Its start, in seconds since the run started.
    pub t_s: u64,
    /// How much of it the run lasted, in seconds: 1, but for the last second of the run.
    pub span_s: f64,
    /// Server messages received.
    pub events: u64,
    /// Payload bytes received.
    pub bytes_in: u64,
    /// Answers sent (as the summary's `answers`, but an answer tried again after a refusal
    /// counts again).
    pub answers: u64,
    /// Sessions with an open socket, on average over the second.
    pub live: f64,
    /// Sessions that finished in it having reached their end.
    pub completed: u64,
    /// Sessions that finished in it without.
    pub failed: u64,
}

impl SeriesPoint {
    /// Events received per second.
    pub fn events_per_s(&self) -> f64 {
        self.events as f64 / self.span_s
    }

    /// Payload bytes received per second.
    pub fn bytes_per_s(&self) -> f64 {
        self.bytes_in as f64 / self.span_s
    }

    /// Answers sent per second.
    pub fn answers_per_s(&self) -> f64 {
        self.answers as f64 / self.span_s
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn timelines_merge_into_seconds_of_the_run() {
        let mut series = SeriesBuilder::default();
        // Open from 0.5 s to 2.25 s; two events in second 1, one in second 2, an answer in 1.
        let mut one = Timeline::default();
        one.opened(ms(500));
        one.received(ms(1_100), 1, 100);
        one.received(ms(1_900), 1, 50);
        one.answer(ms(1_200));
        one.received(ms(2_000), 0, 7);
        one.received(ms(2_100), 1, 10);
        one.finished(ms(2_250));
        series.add(&one, true);
        // Failed before its socket opened.
        let mut two = Timeline::default();
        two.finished(ms(300));
        series.add(&two, false);

        let points = series.points(ms(2_500));
        let point = |t_s, span_s, events, bytes_in, answers, live, completed, failed| SeriesPoint {
            t_s,
            span_s,
            events,
            bytes_in,
            answers,
            live,
            completed,
            failed,
        };
        assert_eq!(
            points,
            [
                point(0, 1.0, 0, 0, 0, 0.5, 0, 1),
                point(1, 1.0, 2, 150, 1, 1.0, 0, 0),
                // A half second, a quarter of it live: half a session on average.
                point(2, 0.5, 1, 17, 0, 0.5, 1, 0),
            ]
        );
        assert_eq!(points[2].events_per_s(), 2.0);
        assert_eq!(points[1].bytes_per_s(), 150.0);
    }

    #[test]
    fn an_empty_run_has_a_point_per_second_and_no_activity() {
        let points = SeriesBuilder::default().points(ms(1_500));
        assert_eq!(points.len(), 2);
        assert!(points.iter().all(|p| p.events == 0 && p.live == 0.0));
        assert!(SeriesBuilder::default().points(Duration::ZERO).is_empty());
    }

    #[test]
    fn out_of_order_offsets_are_kept() {
        let mut timeline = Timeline::default();
        timeline.received(ms(3_000), 1, 1);
        timeline.received(ms(1_000), 1, 1);
        let mut series = SeriesBuilder::default();
        series.add(&timeline, true);
        let events: Vec<u64> = series.points(ms(4_000)).iter().map(|p| p.events).collect();
        assert_eq!(events, [0, 1, 0, 1]);
    }
}
