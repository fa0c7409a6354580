//! The shipped interview plans, key-point coverage and the heuristic scorer, tested as data.
//!
//! Tables of inputs are rendered next to their results and compared with `expect!` blocks;
//! after a deliberate change to a plan or to the scoring formula, refresh them with
//! `UPDATE_EXPECT=1 cargo test -p viva-engine --test plans_and_scoring`, and read the diff.

use std::fmt::Write as _;
use std::sync::Arc;

use expect_test::{Expect, expect};
use viva_engine::plan::{Expected, KeyPoint, Plan, PlanCatalog, Question, QuestionStyle};
use viva_engine::rubric::{self, Words};
use viva_engine::scorer::heuristic;
use viva_engine::scorer::{HeuristicScorer, ScoreError, ScoreRequest, Scorer, Scoring};
use viva_protocol::AnswerContent;

fn text(t: &str) -> AnswerContent {
    AnswerContent::Text { text: t.to_owned() }
}

fn code(language: &str, source: &str) -> AnswerContent {
    AnswerContent::Code { language: language.to_owned(), source: source.to_owned() }
}

fn plan(id: &str) -> Arc<Plan> {
    PlanCatalog::shipped().get(id).unwrap_or_else(|| panic!("no plan `{id}`")).clone()
}

// ---------------------------------------------------------------------------------------------
// Plans

#[test]
fn shipped_plans_load_and_validate() {
    let catalog = PlanCatalog::shipped();
    let mut out = String::new();
    for plan in catalog.iter() {
        plan.validate().unwrap();
        let dims: Vec<&str> = plan.dimensions.iter().map(|d| d.name.as_str()).collect();
        writeln!(
            out,
            "{} v{} ({} {}, {} min): {}",
            plan.id,
            plan.version,
            plan.level,
            plan.role,
            plan.duration_s / 60,
            dims.join(", ")
        )
        .unwrap();
        for q in &plan.questions {
            let expects = match &q.expects {
                Expected::Text => "text".to_owned(),
                Expected::Code { language } => format!("code/{language}"),
            };
            writeln!(
                out,
                "  {:<22} {:<12} {:<17} {:>4}s {} key points -> {}",
                q.id,
                format!("{:?}", q.style).to_lowercase(),
                expects,
                plan.budget_s(q),
                q.key_points.len(),
                q.dimensions.join(", ")
            )
            .unwrap();
        }
    }
    expect![[r#"
        coding-python v1 (mid backend, 40 min): problem_solving, code_quality, testing, communication
          lru-cache              coding       code/python        600s 5 key points -> problem_solving, code_quality, testing
          merge-intervals        coding       code/python        600s 4 key points -> problem_solving, code_quality, testing
          testing-merge          technical    text               600s 4 key points -> testing, communication
          top-k-words            technical    text               600s 4 key points -> problem_solving, communication
        frontend v1 (senior frontend, 45 min): web_platform, architecture, code_quality, communication, collaboration
          rendering-performance  technical    text               540s 5 key points -> web_platform, communication
          state-management       technical    text               540s 5 key points -> architecture, communication
          accessibility          technical    text               540s 5 key points -> web_platform, architecture
          debounce               coding       code/typescript    540s 5 key points -> code_quality, web_platform
          pushing-back           behavioural  text               540s 4 key points -> collaboration, communication
        senior-backend v1 (senior backend, 45 min): system_design, technical_depth, communication, ownership
          rate-limiter           technical    text               660s 5 key points -> system_design, technical_depth, communication
          event-pipeline         technical    text               660s 5 key points -> system_design, technical_depth
          consistency            technical    text               460s 5 key points -> technical_depth, communication
          incident               behavioural  text               460s 5 key points -> ownership, communication
          disagreement           behavioural  text               460s 5 key points -> ownership, communication
    "#]]
    .assert_eq(&out);
}

#[test]
fn plans_have_the_required_mix() {
    let count = |plan: &Plan, style: QuestionStyle| plan.questions.iter().filter(|q| q.style == style).count();
    let code_in = |plan: &Plan, language: &str| {
        plan.questions
            .iter()
            .filter(|q| {
                q.style == QuestionStyle::Coding && q.expects == Expected::Code { language: language.to_owned() }
            })
            .count()
    };

    let backend = plan("senior-backend");
    assert_eq!((backend.role.as_str(), backend.level.as_str()), ("backend", "senior"));
    assert_eq!(backend.questions.len(), 5);
    assert_eq!(count(&backend, QuestionStyle::Behavioural), 2);
    assert_eq!(count(&backend, QuestionStyle::Technical), 3);

    let python = plan("coding-python");
    assert_eq!(python.level, "mid");
    assert_eq!(python.questions.len(), 4);
    assert!(code_in(&python, "python") >= 2);

    let frontend = plan("frontend");
    assert_eq!(frontend.role, "frontend");
    assert!((4..=5).contains(&frontend.questions.len()));
    assert_eq!(code_in(&frontend, "typescript"), 1);
    assert_eq!(count(&frontend, QuestionStyle::Behavioural), 1);

    for plan in PlanCatalog::shipped().iter() {
        assert_eq!(plan.version, 1, "{}", plan.id);
        assert!((1800..=2700).contains(&plan.duration_s), "{}", plan.id);
        assert!(!plan.intro.trim().is_empty() && !plan.closing.trim().is_empty(), "{}", plan.id);
        for d in &plan.dimensions {
            let used = plan.questions.iter().any(|q| q.dimensions.contains(&d.name));
            assert!(used, "{}: dimension `{}` is never measured", plan.id, d.name);
        }
    }
}

#[test]
fn question_budgets_default_to_a_share_of_the_duration_and_are_validated() {
    let catalog = PlanCatalog::shipped();
    for plan in catalog.iter() {
        let total: u64 = plan.questions.iter().map(|q| plan.budget_s(q)).sum();
        assert!(total <= plan.duration_s, "{}: budgets add up to {total}", plan.id);
        assert!(plan.questions.iter().all(|q| plan.budget_s(q) > 0), "{}", plan.id);
    }
    let with_budgets = |budgets: &[Option<u64>]| {
        let mut plan = (*plan("senior-backend")).clone();
        for (q, b) in plan.questions.iter_mut().zip(budgets) {
            q.budget_s = *b;
        }
        plan
    };
    let even = with_budgets(&[None; 5]);
    assert_eq!(even.questions.iter().map(|q| even.budget_s(q)).collect::<Vec<_>>(), [540; 5]);
    let over = with_budgets(&[Some(2000), Some(800), None, None, None]);
    let error = over.validate().unwrap_err();
    assert_eq!(error.problems, ["the questions' budget_s add up to 2800, over duration_s 2700"]);
    let zero = with_budgets(&[Some(0), None, None, None, None]);
    assert_eq!(zero.validate().unwrap_err().problems, ["question `rate-limiter` has a budget_s of 0"]);
}

/// Every question of every shipped plan, with its plan id.
fn all_questions() -> Vec<(String, Question)> {
    PlanCatalog::shipped().iter().flat_map(|p| p.questions.iter().map(|q| (p.id.clone(), q.clone()))).collect()
}

#[test]
fn key_points_are_well_formed() {
    for (plan, q) in all_questions() {
        let at = format!("{plan}.{}", q.id);
        assert!((3..=5).contains(&q.key_points.len()), "{at}: {} key points", q.key_points.len());
        assert!(q.prompt.trim().ends_with(['?', '.']), "{at}: prompt");
        let mut ids: Vec<&str> = q.key_points.iter().map(|k| k.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), q.key_points.len(), "{at}: duplicate key point ids");
        for k in &q.key_points {
            let at = format!("{at}.{}", k.id);
            assert!((3..=8).contains(&k.keywords.len()), "{at}: {} keywords", k.keywords.len());
            assert!(k.follow_up.trim().ends_with('?'), "{at}: follow-up is not a question");
            for kw in &k.keywords {
                assert_eq!(kw, &kw.trim().to_lowercase(), "{at}: keyword `{kw}`");
                // Every keyword must be findable: one with no word characters never matches.
                assert!(Words::of_text(kw).contains(kw), "{at}: keyword `{kw}` cannot match");
            }
        }
    }
}

#[test]
fn each_keyword_names_only_its_own_key_point() {
    let mut problems = Vec::new();
    for (plan, q) in all_questions() {
        for k in &q.key_points {
            for kw in &k.keywords {
                let hit = ids(&rubric::coverage(&q, &text(kw)).hit);
                if hit != [k.id.as_str()] {
                    problems.push(format!("{plan}.{}.{}: keyword `{kw}` names {hit:?}", q.id, k.id));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn restating_the_question_names_no_key_point() {
    for (plan, q) in all_questions() {
        let hit = ids(&rubric::coverage(&q, &text(&q.prompt)).hit);
        assert!(hit.is_empty(), "{plan}.{}: the prompt itself names {hit:?}", q.id);
    }
}

fn ids<'a>(points: &[&'a KeyPoint]) -> Vec<&'a str> {
    points.iter().map(|k| k.id.as_str()).collect()
}

// ---------------------------------------------------------------------------------------------
// Coverage

/// A question with one key point per keyword, to see exactly which keywords an answer names.
fn question_with_keywords(keywords: &[&str]) -> Question {
    Question {
        id: "q".to_owned(),
        prompt: "?".to_owned(),
        style: QuestionStyle::Technical,
        expects: Expected::Text,
        dimensions: vec!["d".to_owned()],
        levels: Vec::new(),
        budget_s: None,
        key_points: keywords
            .iter()
            .map(|kw| KeyPoint {
                id: (*kw).to_owned(),
                description: String::new(),
                keywords: vec![(*kw).to_owned()],
                follow_up: "?".to_owned(),
            })
            .collect(),
        keyword_index: Default::default(),
    }
}

/// Renders, for each answer, which of `keywords` it names.
fn check_coverage(keywords: &[&str], answers: &[AnswerContent], expect: Expect) {
    let question = question_with_keywords(keywords);
    let mut out = String::new();
    for answer in answers {
        let shown = match answer {
            AnswerContent::Text { text } => format!("text {text:?}"),
            AnswerContent::Code { source, .. } => format!("code {source:?}"),
        };
        let c = rubric::coverage(&question, answer);
        writeln!(out, "{shown}\n  hit: {:?}", ids(&c.hit)).unwrap();
    }
    expect.assert_eq(&out);
}

#[test]
fn coverage_matches_prefixes_and_phrases() {
    check_coverage(
        &["shard", "token bucket", "trade-off", "o(1)", "429", "c++"],
        &[
            text("We shard by user id: Sharding keeps hot keys apart."),
            text("A TOKEN  BUCKETS per key, refilled every second."),
            text("A token-based bucket."),
            text("The trade-offs: trade off latency for cost."),
            text("Lookups are O(1), amortised."),
            text("One of 10 servers answers 4290 times."),
            text("Return HTTP 429 with Retry-After."),
            text("Written in C++ for speed."),
        ],
        expect![[r#"
            text "We shard by user id: Sharding keeps hot keys apart."
              hit: ["shard"]
            text "A TOKEN  BUCKETS per key, refilled every second."
              hit: ["token bucket"]
            text "A token-based bucket."
              hit: []
            text "The trade-offs: trade off latency for cost."
              hit: ["trade-off"]
            text "Lookups are O(1), amortised."
              hit: ["o(1)"]
            text "One of 10 servers answers 4290 times."
              hit: []
            text "Return HTTP 429 with Retry-After."
              hit: ["429"]
            text "Written in C++ for speed."
              hit: ["c++"]
        "#]],
    );
}

#[test]
fn coverage_does_not_hit_across_or_inside_words() {
    check_coverage(
        &["hash", "tradeoff", "read your writes", "cache", "ordereddict"],
        &[
            text("We rehash on resize."),
            text("There is a trade off here."),
            text("Reads go to your replica; writes to the leader."),
            text("A cachet of reliability; no caching layer."),
            text("An ordered dict."),
        ],
        expect![[r#"
            text "We rehash on resize."
              hit: []
            text "There is a trade off here."
              hit: []
            text "Reads go to your replica; writes to the leader."
              hit: []
            text "A cachet of reliability; no caching layer."
              hit: ["cache"]
            text "An ordered dict."
              hit: []
        "#]],
    );
}

#[test]
fn coverage_splits_code_identifiers() {
    check_coverage(
        &["move to end", "move_to_end", "ordered dict", "ordereddict", "http server", "clear timeout", "usememo"],
        &[
            code("python", "self.entries.move_to_end(key)"),
            code("typescript", "cache.moveToEnd(key)"),
            code("python", "from collections import OrderedDict"),
            code("go", "srv := NewHTTPServer()"),
            code("typescript", "clearTimeout(timer); useMemo(() => x, [])"),
            text("I'd use useMemo and clearTimeout."),
            text("moveToEnd and OrderedDict, said aloud."),
        ],
        expect![[r#"
            code "self.entries.move_to_end(key)"
              hit: ["move to end", "move_to_end"]
            code "cache.moveToEnd(key)"
              hit: ["move to end"]
            code "from collections import OrderedDict"
              hit: ["ordered dict", "ordereddict"]
            code "srv := NewHTTPServer()"
              hit: ["http server"]
            code "clearTimeout(timer); useMemo(() => x, [])"
              hit: ["clear timeout", "usememo"]
            text "I'd use useMemo and clearTimeout."
              hit: ["usememo"]
            text "moveToEnd and OrderedDict, said aloud."
              hit: ["ordereddict"]
        "#]],
    );
}

#[test]
fn coverage_keeps_the_question_order() {
    let q = plan("senior-backend").question("rate-limiter").unwrap().clone();
    let c = rubric::coverage(&q, &text("Return 429s. Keep a token bucket in Redis."));
    assert_eq!(ids(&c.hit), ["algorithm", "shared_state", "client_feedback"]);
    assert_eq!(ids(&c.missed), ["atomicity", "failure_mode"]);
    assert_eq!(c.total(), 5);
    assert_eq!(c.fraction(), 0.6);
}

// ---------------------------------------------------------------------------------------------
// Other text signals

#[test]
fn specificity_counts_numbers_units_and_trade_offs() {
    let cases = [
        "",
        "It is fast and scales well.",
        "About 200 ms at p99, 99.9% of the time, for 10k rps on 3 replicas.",
        "Use 5GB of RAM and 10,000 users; the trade-off is memory versus latency.",
        "Redis instead of Memcached; however, at the cost of ops work. Pros and cons, vs vsync.",
        "Sorting is O(n log n), the scan O(n).",
        "Each hop adds 40µs, 2 MiB per node; 12 shards, 3 regions, 5 seconds, 7 apples.",
    ];
    let mut out = String::new();
    for t in cases {
        writeln!(out, "{t:?}\n  {:?}", heuristic::specificity(t)).unwrap();
    }
    expect![[r#"
        ""
          Specificity { numbers: 0, units: 0, tradeoff_phrases: 0, complexity: 0 }
        "It is fast and scales well."
          Specificity { numbers: 0, units: 0, tradeoff_phrases: 0, complexity: 0 }
        "About 200 ms at p99, 99.9% of the time, for 10k rps on 3 replicas."
          Specificity { numbers: 5, units: 5, tradeoff_phrases: 0, complexity: 0 }
        "Use 5GB of RAM and 10,000 users; the trade-off is memory versus latency."
          Specificity { numbers: 2, units: 2, tradeoff_phrases: 2, complexity: 0 }
        "Redis instead of Memcached; however, at the cost of ops work. Pros and cons, vs vsync."
          Specificity { numbers: 0, units: 0, tradeoff_phrases: 5, complexity: 0 }
        "Sorting is O(n log n), the scan O(n)."
          Specificity { numbers: 0, units: 0, tradeoff_phrases: 0, complexity: 2 }
        "Each hop adds 40µs, 2 MiB per node; 12 shards, 3 regions, 5 seconds, 7 apples."
          Specificity { numbers: 6, units: 5, tradeoff_phrases: 0, complexity: 0 }
    "#]]
    .assert_eq(&out);
}

#[test]
fn star_structure_and_layout() {
    let cases = [
        "We fixed it.",
        "Last year our team had an outage. I was on call, so I rolled back the deploy. As a \
         result errors dropped to zero.",
        "At my last job we migrated the database and we finished on time.",
        "The pager went off. I wrote a fix, we then built a canary and I led the rollout.",
    ];
    let mut out = String::new();
    for t in cases {
        writeln!(out, "{t:?}\n  {:?}\n  {:?}", heuristic::star_structure(t), heuristic::layout(t)).unwrap();
    }
    let steps = "First, measure.\nThen fix it.\n\n- one\n- two\n\nFinally, check again!";
    writeln!(out, "{steps:?}\n  {:?}", heuristic::layout(steps)).unwrap();
    expect![[r#"
        "We fixed it."
          Star { situation: false, task: false, action: true, result: false, first_person_actions: 0 }
          Layout { words: 3, sentences: 1, paragraphs: 1, list_items: 0, sequence_words: 0 }
        "Last year our team had an outage. I was on call, so I rolled back the deploy. As a result errors dropped to zero."
          Star { situation: true, task: true, action: true, result: true, first_person_actions: 1 }
          Layout { words: 24, sentences: 3, paragraphs: 1, list_items: 0, sequence_words: 0 }
        "At my last job we migrated the database and we finished on time."
          Star { situation: true, task: false, action: true, result: false, first_person_actions: 0 }
          Layout { words: 13, sentences: 1, paragraphs: 1, list_items: 0, sequence_words: 0 }
        "The pager went off. I wrote a fix, we then built a canary and I led the rollout."
          Star { situation: false, task: false, action: true, result: false, first_person_actions: 2 }
          Layout { words: 18, sentences: 2, paragraphs: 1, list_items: 0, sequence_words: 1 }
        "First, measure.\nThen fix it.\n\n- one\n- two\n\nFinally, check again!"
          Layout { words: 10, sentences: 5, paragraphs: 3, list_items: 2, sequence_words: 3 }
    "#]]
    .assert_eq(&out);
}

#[test]
fn code_shape_of_good_and_bad_code() {
    let shape = heuristic::code_shape("python", LRU_STRONG);
    expect![[r#"
        CodeShape {
            defined: [
                "LRUCache",
                "__init__",
                "get",
                "put",
                "test_evicts_least_recently_used",
            ],
            defines_function: true,
            defines_class: true,
            detected_language: Some(
                "python",
            ),
            language_matches: true,
            edge_cases: EdgeCases {
                empty_input: true,
                missing_value: true,
                bounds: true,
                invalid_input: true,
            },
            has_tests: true,
            lines: 29,
            comment_lines: 3,
        }
    "#]]
    .assert_debug_eq(&shape);
    let shape = heuristic::code_shape("python", "const f = (x) => x * 2;");
    assert_eq!(shape.defined, ["f"]);
    assert_eq!(shape.detected_language, Some("javascript"));
    assert!(!shape.language_matches && !shape.handles_edge_cases() && !shape.has_tests);
}

// ---------------------------------------------------------------------------------------------
// Scoring

const RATE_LIMITER_STRONG: &str = "\
First, the algorithm: a token bucket per API key, refilled at the plan's rate, say 100 requests \
per second with bursts of 200. It is cheap and allows short bursts, whereas a sliding window log \
is more precise at the cost of memory.

Then the state: every gateway server checks a shared Redis cluster, so all 40 servers enforce the \
same limit. The check-and-decrement runs as an atomic Lua script, so two concurrent requests \
cannot both take the last token, and keys expire with a TTL so idle clients cost nothing. That \
adds about 1 ms at p99.

Next, failure: if Redis is unreachable I would fail open with a local in-memory limit on each \
server as a fallback, because rejecting all traffic is worse than briefly over-admitting. \
However, for expensive endpoints I might fail closed instead.

Finally, clients get HTTP 429 Too Many Requests with a Retry-After header, plus remaining-quota \
headers, so well-behaved clients can back off.";

const RATE_LIMITER_WEAK: &str = "\
I'd use a token bucket for each user and keep the counts in Redis so that it's fast.";

const INCIDENT_STRONG: &str = "\
Last year I was the on-call engineer when we got paged at 2 am: the checkout error rate had \
jumped to 30% and customers could not pay. I took the incident commander role, opened a Slack \
channel and posted status updates every 15 minutes for support and leadership.

A deploy from an hour earlier was the obvious suspect, so I rolled it back first; errors dropped \
within 5 minutes. Then I dug into the logs and traces and found the root cause: a migration had \
added an index that locked the orders table under load.

Afterwards I wrote a blameless postmortem, and we added a migration linter and a canary stage as \
action items. As a result, checkout errors went from 30% to under 0.1%, and we have not had a \
lock-related outage since.";

const INCIDENT_WEAK: &str = "\
We had an outage once and the site was down for a while. We rolled back and it worked out fine \
in the end.";

const LRU_STRONG: &str = r#"from collections import OrderedDict


class LRUCache:
    """Least-recently-used cache; get and put are O(1)."""

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError("capacity must be non-negative")
        self.capacity = capacity
        self.entries: OrderedDict[int, int] = OrderedDict()

    def get(self, key: int) -> int:
        if key not in self.entries:
            return -1
        # Reading a key makes it the most recently used.
        self.entries.move_to_end(key)
        return self.entries[key]

    def put(self, key: int, value: int) -> None:
        if self.capacity == 0:
            return
        self.entries[key] = value
        self.entries.move_to_end(key)
        if len(self.entries) > self.capacity:
            # Evict the least recently used entry, at the front.
            self.entries.popitem(last=False)


def test_evicts_least_recently_used():
    cache = LRUCache(2)
    cache.put(1, 1)
    cache.put(2, 2)
    assert cache.get(1) == 1
    cache.put(3, 3)
    assert cache.get(2) == -1
"#;

const LRU_WEAK: &str = "\
class Cache:
    def __init__(self, n):
        self.d = {}
        self.keys = []
        self.n = n

    def get(self, k):
        return self.d[k]

    def put(self, k, v):
        self.d[k] = v
        self.keys.append(k)
        if len(self.keys) > self.n:
            self.keys.pop(0)
";

const DEBOUNCE_STRONG: &str = "\
/** Runs `fn` once calls have stopped for `wait` ms; `cancel` drops a pending call. */
export function debounce<T extends (...args: any[]) => void>(fn: T, wait: number) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const debounced = (...args: Parameters<T>): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      fn(...args);
    }, Math.max(0, wait));
  };
  debounced.cancel = () => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };
  return debounced;
}
";

const DEBOUNCE_WEAK: &str = "\
function debounce(fn, wait) {
  let timer;
  return function () {
    timer = setTimeout(fn, wait);
  };
}
";

/// One scored case: plan, question, a label and the answer.
struct Case {
    plan: &'static str,
    question: &'static str,
    label: &'static str,
    answer: AnswerContent,
}

fn cases() -> Vec<Case> {
    let case = |plan, question, label, answer| Case { plan, question, label, answer };
    vec![
        case("senior-backend", "rate-limiter", "strong", text(RATE_LIMITER_STRONG)),
        case("senior-backend", "rate-limiter", "weak", text(RATE_LIMITER_WEAK)),
        case("senior-backend", "rate-limiter", "empty", text("  ")),
        case("senior-backend", "incident", "strong", text(INCIDENT_STRONG)),
        case("senior-backend", "incident", "weak", text(INCIDENT_WEAK)),
        case("senior-backend", "incident", "empty", text("")),
        case("coding-python", "lru-cache", "strong", code("python", LRU_STRONG)),
        case("coding-python", "lru-cache", "weak", code("python", LRU_WEAK)),
        case("coding-python", "lru-cache", "empty", code("python", "")),
        case("frontend", "debounce", "strong", code("typescript", DEBOUNCE_STRONG)),
        case("frontend", "debounce", "weak", code("javascript", DEBOUNCE_WEAK)),
        case("frontend", "debounce", "empty", code("typescript", "\n\n")),
    ]
}

fn score(case: &Case) -> Scoring {
    HeuristicScorer.score_now(&plan(case.plan), case.question, &case.answer).unwrap()
}

#[test]
fn scores_order_strong_over_weak_over_empty() {
    let scored: Vec<(Case, Scoring)> = cases()
        .into_iter()
        .map(|c| {
            let s = score(&c);
            (c, s)
        })
        .collect();
    let mut board = String::new();
    for (case, s) in &scored {
        let dims: Vec<String> = s.dimensions.iter().map(|d| format!("{} {}", d.name, d.score)).collect();
        writeln!(
            board,
            "{}/{} {}: overall {:?} [{}]",
            case.plan,
            case.question,
            case.label,
            s.overall(),
            dims.join(", ")
        )
        .unwrap();
    }
    expect![[r#"
        senior-backend/rate-limiter strong: overall Some(10.0) [system_design 10, technical_depth 10, communication 10]
        senior-backend/rate-limiter weak: overall Some(2.2) [system_design 2.5, technical_depth 2.5, communication 1.6]
        senior-backend/rate-limiter empty: overall Some(0.0) [system_design 0, technical_depth 0, communication 0]
        senior-backend/incident strong: overall Some(8.5) [ownership 8.3, communication 8.6]
        senior-backend/incident weak: overall Some(2.1) [ownership 1.9, communication 2.2]
        senior-backend/incident empty: overall Some(0.0) [ownership 0, communication 0]
        coding-python/lru-cache strong: overall Some(8.8) [problem_solving 8.2, code_quality 9.4, testing 8.8]
        coding-python/lru-cache weak: overall Some(1.7) [problem_solving 1.7, code_quality 2.9, testing 0.5]
        coding-python/lru-cache empty: overall Some(0.0) [problem_solving 0, code_quality 0, testing 0]
        frontend/debounce strong: overall Some(9.3) [code_quality 10, web_platform 8.5]
        frontend/debounce weak: overall Some(2.3) [code_quality 2.9, web_platform 1.7]
        frontend/debounce empty: overall Some(0.0) [code_quality 0, web_platform 0]
    "#]]
    .assert_eq(&board);

    for triple in scored.chunks(3) {
        let [(strong_case, strong), (_, weak), (_, empty)] = triple else { panic!("cases come in threes") };
        let at = format!("{}/{}", strong_case.plan, strong_case.question);
        for ((s, w), e) in strong.dimensions.iter().zip(&weak.dimensions).zip(&empty.dimensions) {
            assert!(s.score > w.score && w.score > e.score, "{at} {}: {s:?} {w:?} {e:?}", s.name);
            assert_eq!(e.score, 0.0, "{at}: empty answers score 0");
        }
        assert!(strong.overall().unwrap() >= 8.0, "{at}: strong scores {:?}", strong.overall());
        assert!(weak.overall().unwrap() <= 5.0, "{at}: weak scores {:?}", weak.overall());
    }
}

fn check_scoring(plan_id: &str, question: &str, answer: AnswerContent, expect: Expect) {
    let scoring = HeuristicScorer.score_now(&plan(plan_id), question, &answer).unwrap();
    expect.assert_debug_eq(&scoring);
}

#[test]
fn scoring_of_a_strong_technical_answer() {
    check_scoring(
        "senior-backend",
        "rate-limiter",
        text(RATE_LIMITER_STRONG),
        expect![[r#"
            Scoring {
                dimensions: [
                    DimensionScore {
                        name: "system_design",
                        score: 10.0,
                    },
                    DimensionScore {
                        name: "technical_depth",
                        score: 10.0,
                    },
                    DimensionScore {
                        name: "communication",
                        score: 10.0,
                    },
                ],
                key_points_hit: [
                    "algorithm",
                    "shared_state",
                    "atomicity",
                    "failure_mode",
                    "client_feedback",
                ],
                key_points_missed: [],
                notes: [
                    "Named all 5 key points.",
                    "166 words in 8 sentences and 4 paragraphs, taken in steps.",
                    "Named 6 numbers (4 with units) and 3 trade-offs.",
                ],
                scored_by: "heuristic/1",
            }
        "#]],
    );
}

#[test]
fn scoring_of_a_weak_behavioural_answer() {
    check_scoring(
        "senior-backend",
        "incident",
        text(INCIDENT_WEAK),
        expect![[r#"
            Scoring {
                dimensions: [
                    DimensionScore {
                        name: "ownership",
                        score: 1.9,
                    },
                    DimensionScore {
                        name: "communication",
                        score: 2.2,
                    },
                ],
                key_points_hit: [
                    "mitigation",
                ],
                key_points_missed: [
                    "detection",
                    "coordination",
                    "root_cause",
                    "follow_through",
                ],
                notes: [
                    "Named 1 of 5 key points; missed: detection, coordination, root cause, follow through.",
                    "STAR story with situation, action and result; no clear task.",
                    "Actions are told as \"we\"; say what you did yourself.",
                    "No numbers or trade-offs named.",
                ],
                scored_by: "heuristic/1",
            }
        "#]],
    );
}

#[test]
fn scoring_of_weak_code() {
    check_scoring(
        "coding-python",
        "lru-cache",
        code("python", LRU_WEAK),
        expect![[r#"
            Scoring {
                dimensions: [
                    DimensionScore {
                        name: "problem_solving",
                        score: 1.7,
                    },
                    DimensionScore {
                        name: "code_quality",
                        score: 2.9,
                    },
                    DimensionScore {
                        name: "testing",
                        score: 0.5,
                    },
                ],
                key_points_hit: [
                    "eviction",
                ],
                key_points_missed: [
                    "ordered_structure",
                    "constant_time",
                    "recency_update",
                    "missing_key",
                ],
                notes: [
                    "Named 1 of 5 key points; missed: ordered structure, constant time, recency update, missing key.",
                    "12 lines of code, no comments.",
                    "No complexity or trade-offs stated.",
                    "Defines `Cache`, `get` and `put`; no edge cases handled; no tests.",
                ],
                scored_by: "heuristic/1",
            }
        "#]],
    );
}

#[test]
fn scoring_of_an_empty_answer() {
    check_scoring(
        "frontend",
        "pushing-back",
        text(" \n "),
        expect![[r#"
        Scoring {
            dimensions: [
                DimensionScore {
                    name: "collaboration",
                    score: 0.0,
                },
                DimensionScore {
                    name: "communication",
                    score: 0.0,
                },
            ],
            key_points_hit: [],
            key_points_missed: [
                "context",
                "evidence",
                "alternative",
                "result",
            ],
            notes: [
                "Empty answer: nothing to score.",
            ],
            scored_by: "heuristic/1",
        }
    "#]],
    );
}

#[test]
fn prose_to_a_coding_question_and_code_to_a_prose_question_are_scored() {
    let prose = "Sort by start, then walk the list and extend the last end with max when the next \
                 interval starts before it ends. That's O(n log n) for the sort; if not intervals, \
                 return an empty list.";
    check_scoring(
        "coding-python",
        "merge-intervals",
        text(prose),
        expect![[r#"
        Scoring {
            dimensions: [
                DimensionScore {
                    name: "problem_solving",
                    score: 7.0,
                },
                DimensionScore {
                    name: "code_quality",
                    score: 3.4,
                },
                DimensionScore {
                    name: "testing",
                    score: 4.2,
                },
            ],
            key_points_hit: [
                "sort_first",
                "merge_rule",
                "complexity",
                "edge_cases",
            ],
            key_points_missed: [],
            notes: [
                "Named all 4 key points.",
                "38 words in 2 sentences, taken in steps.",
                "Named 1 big-O bound.",
                "No code submitted for a coding question.",
            ],
            scored_by: "heuristic/1",
        }
    "#]],
    );
    let source = "import heapq\nfrom collections import Counter\n\ndef top_k(path, k):\n    \
                  # Stream line by line: O(n log k) time, O(u) memory.\n    counts = Counter()\n    \
                  with open(path) as f:\n        for line in f:\n            counts.update(line.split())\n    \
                  return heapq.nlargest(k, counts.items(), key=lambda kv: kv[1])\n";
    check_scoring(
        "coding-python",
        "top-k-words",
        code("python", source),
        expect![[r#"
            Scoring {
                dimensions: [
                    DimensionScore {
                        name: "problem_solving",
                        score: 6.2,
                    },
                    DimensionScore {
                        name: "communication",
                        score: 7.7,
                    },
                ],
                key_points_hit: [
                    "hash_count",
                    "heap_select",
                ],
                key_points_missed: [
                    "costs",
                    "too_big",
                ],
                notes: [
                    "Named 2 of 4 key points; missed: costs, too big.",
                    "9 lines of code, 1 line of comments.",
                    "States the complexity.",
                    "Defines `top_k`; no edge cases handled; no tests.",
                ],
                scored_by: "heuristic/1",
            }
        "#]],
    );
}

#[test]
fn off_topic_or_nonsense_answers_score_near_zero() {
    let off_topic = "First, I bring a large pot of salted water to the boil, which takes about \
        10 minutes. Then I add the pasta and stir it so that it doesn't stick.\n\nNext, I make \
        the sauce: garlic, olive oil and chilli, warmed gently instead of fried. However, the \
        timing matters more than the recipe.\n\nFinally, I drain the pasta, keep a cup of the \
        water, and toss everything together for 1 minute before serving.";
    let nonsense = "asdf qwerty ".repeat(80);
    for (plan_id, question) in
        [("senior-backend", "rate-limiter"), ("senior-backend", "incident"), ("frontend", "debounce")]
    {
        for answer in [text(off_topic), text(&nonsense), code("python", &nonsense)] {
            let scoring = HeuristicScorer.score_now(&plan(plan_id), question, &answer).unwrap();
            assert!(scoring.key_points_hit.is_empty(), "{question}: {scoring:?}");
            for d in &scoring.dimensions {
                assert!(d.score <= 2.5, "{question} {}: {} for {answer:?}", d.name, d.score);
            }
        }
    }
}

#[test]
fn unknown_question_is_an_error() {
    let err = HeuristicScorer.score_now(&plan("frontend"), "nope", &text("hi")).unwrap_err();
    assert_eq!(err, ScoreError::UnknownQuestion("nope".to_owned()));
}

#[tokio::test]
async fn the_async_scorer_matches_score_now() {
    let scorer = HeuristicScorer;
    assert_eq!(scorer.name(), "heuristic/1");
    let request = ScoreRequest {
        session_id: "s1".into(),
        user_id: "user".into(),
        answer_id: viva_engine::core::AnswerId(1),
        plan: plan("senior-backend"),
        question_id: "incident".to_owned(),
        answer: text(INCIDENT_STRONG),
        candidate: Default::default(),
    };
    let now = scorer.score_now(&request.plan, "incident", &request.answer).unwrap();
    assert_eq!(scorer.score(request.clone()).await.unwrap(), now);
    let unknown = ScoreRequest { question_id: "nope".to_owned(), ..request };
    assert_eq!(scorer.score(unknown).await.unwrap_err(), ScoreError::UnknownQuestion("nope".to_owned()));
}
