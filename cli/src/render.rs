//! Text and JSON renderings of what the inspector reads.

use std::fmt::Write;
use std::ops::Range;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use comfy_table::{presets, ContentArrangement, Table};
use pretty_hex::HexConfig;
use serde::Serialize;
use shm_disruptor::{ParticipantState, ProducerMode};
use shm_disruptor_inspect::{
    ConsumerInfo, ConsumerState, DecodedField, FieldLayout, ListedSegment, Peek, ProducerInfo,
    RingInfo, RingState, SegmentKind, SlotLayout, JSON_VERSION,
};

use crate::summary::{self, followed, LagStats, Summary, View};

/// Left-aligned columns separated by two spaces, each line indented by `indent` spaces, with no
/// borders and no trailing spaces, so that scripts can split rows on whitespace. No header line
/// when `headers` is empty.
pub fn table(indent: u16, headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING).set_content_arrangement(ContentArrangement::Disabled);
    if !headers.is_empty() {
        t.set_header(headers.to_vec());
    }
    t.add_rows(rows.iter().cloned());
    let last = t.column_count().saturating_sub(1);
    for column in t.column_iter_mut() {
        let left = if column.index == 0 { indent } else { 0 };
        let right = if column.index == last { 0 } else { 2 };
        column.set_padding((left, right));
    }
    t.lines().map(|line| format!("{}\n", line.trim_end())).collect()
}

/// `2026-05-01T12:34:56Z` (UTC), from nanoseconds since the Unix epoch.
pub fn utc(ns: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_nanos(ns)).to_string()
}

/// `3h 2m ago`, `12s ago` (the two largest units), or `in the future` for a clock that went
/// back.
pub fn age(ns: u64) -> String {
    let then = UNIX_EPOCH + Duration::from_nanos(ns);
    let Ok(elapsed) = SystemTime::now().duration_since(then) else {
        return "in the future".into();
    };
    let s = elapsed.as_secs();
    // Keep the two largest units: 3h 2m, not 3h 2m 5s.
    let unit = match s {
        0..=59 => 1,
        60..=3_599 => 1,
        3_600..=86_399 => 60,
        _ => 3_600,
    };
    format!("{} ago", humantime::format_duration(Duration::from_secs(s - s % unit)))
}

pub fn range_text(r: &Range<u64>) -> String {
    format!("{}..{} ({} slot{})", r.start, r.end, r.end - r.start, plural(r.end - r.start))
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

pub fn pids_text(pids: &[u32]) -> String {
    if pids.is_empty() {
        "-".into()
    } else {
        pids.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
    }
}

pub fn mode_name(mode: ProducerMode) -> &'static str {
    match mode {
        ProducerMode::Single => "single",
        ProducerMode::Multi => "multi",
    }
}

/// Every process attached to a ring: registry owners, then the other processes mapping it.
pub fn attached(live_users: &[u32], mapped_by: &[u32]) -> Vec<u32> {
    let mut pids = live_users.to_vec();
    pids.extend(mapped_by.iter().filter(|p| !live_users.contains(p)));
    pids
}

pub fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// `0000:   00 01 ... 0f   ................`, 16 bytes a line, each line after `indent`.
pub fn hex_dump(bytes: &[u8], indent: &str) -> String {
    let config = HexConfig { title: false, group: 0, ..HexConfig::default() };
    pretty_hex::config_hex(&bytes, config).lines().map(|l| format!("{indent}{l}\n")).collect()
}

/// After a sleeping count that may include handles killed while they slept.
pub const STALE_NOTE: &str =
    " (possibly stale: a process killed while it slept leaves its count behind)";

// --- inspect --------------------------------------------------------------------------------

/// Who is attached, as the tool sees it (from outside the ring's own records).
#[derive(Debug, Default)]
pub struct Attachment {
    pub live_users: Vec<u32>,
    pub mapped_by: Vec<u32>,
}

pub fn inspect_text(
    info: &RingInfo,
    layout: &Result<SlotLayout, String>,
    att: &Attachment,
    view: View,
) -> String {
    let (h, s) = (&info.header, &info.state);
    let mut out = String::new();
    let _ = writeln!(out, "ring {}", h.name);
    // A key and its value a row.
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut line = |key: &str, value: String| rows.push(vec![key.to_owned(), value]);
    line("type", h.type_name.clone());
    line("schema", h.schema_text.clone());
    line("schema hash", format!("{:#018x}", h.schema_hash));
    line("layout", format!("version {}", h.layout_version));
    line("slots", format!("{} x {} bytes, align {}", h.capacity, h.slot_size, h.slot_align));
    line("consumers", h.consumer_count.to_string());
    line("producers", format!("{}-producer", mode_name(h.producer_mode)));
    line(
        "created",
        format!(
            "{} ({}) by pid {}",
            utc(h.creation_time_ns),
            age(h.creation_time_ns),
            h.creator_pid
        ),
    );
    line("segment", format!("{} bytes", h.segment_size));
    line("attached", pids_text(&attached(&att.live_users, &att.mapped_by)));
    if h.is_stream {
        line("status", format!("{} (a byte stream)", stream_status(s.status)));
    } else {
        line("status", s.status.to_string());
    }
    line("cursor", format!("{} (published)", s.cursor));
    let in_flight = s.claim_sequence.saturating_sub(s.cursor);
    line(
        "claim sequence",
        format!("{} ({in_flight} claimed, not yet published)", s.claim_sequence),
    );
    out.push_str(&table(2, &[], &rows));
    out.push_str("\nfields:\n");
    match layout {
        Ok(layout) => {
            let rows: Vec<Vec<String>> = layout
                .fields
                .iter()
                .map(|f| {
                    vec![f.offset.to_string(), f.size.to_string(), f.name.clone(), f.ty.to_string()]
                })
                .collect();
            out.push_str(&table(2, &["OFFSET", "SIZE", "NAME", "TYPE"], &rows));
        }
        Err(e) => {
            let _ = writeln!(out, "  not decoded: {e}");
        }
    }
    out.push_str("\nconsumers:\n");
    out.push_str(&consumers_text(&s.consumers, view));
    out.push_str("\nproducers:\n");
    out.push_str(&producers_text(h.producer_count, &s.producers, view));
    let _ = match &s.orphaned_claim {
        Some(r) => writeln!(
            out,
            "  orphaned claim: {} blocks the cursor; no live producer will commit it \
             (Producer::recover_orphaned recovers it)",
            range_text(r)
        ),
        None => writeln!(out, "  orphaned claim: none"),
    };
    if s.abandoned_total > 0 {
        let ranges: Vec<String> =
            s.abandoned.iter().map(|r| format!("{}..{}", r.start, r.end)).collect();
        let _ = writeln!(
            out,
            "  abandoned: {} range(s) published zero-filled; the last: {}",
            s.abandoned_total,
            ranges.join(", ")
        );
    }
    if s.sleeping_consumers + s.sleeping_producers > 0 {
        let _ = writeln!(
            out,
            "  sleeping: {} consumer handle(s), {} producer handle(s){}",
            s.sleeping_consumers,
            s.sleeping_producers,
            if s.sleeping_possibly_stale { STALE_NOTE } else { "" }
        );
    }
    for blocker in &s.blocked_by {
        let _ = writeln!(out, "  {blocker}: shm-disruptor evict {} {}", h.name, blocker.index);
    }
    out.push_str("\ndependency graph:\n");
    out.push_str(&graph_text(&s.consumers, &h.gating, view));
    out
}

/// One row of the consumer table.
fn consumer_row(c: &ConsumerInfo, ranges: bool, cap: Option<usize>) -> Vec<String> {
    vec![
        c.index.to_string(),
        if c.state == ConsumerState::Released { "-".into() } else { c.sequence.to_string() },
        c.lag.map_or("-".into(), |l| l.to_string()),
        c.state.to_string(),
        c.owner_pid.map_or("-".into(), |p| p.to_string()),
        c.commits.to_string(),
        followed(&c.dependencies, ranges, cap),
    ]
}

/// The consumers section: a row per consumer for small rings (and `--all`), otherwise counts,
/// lag percentiles and the slowest consumers.
fn consumers_text(consumers: &[ConsumerInfo], view: View) -> String {
    const HEADERS: [&str; 7] = ["#", "SEQUENCE", "LAG", "STATE", "OWNER", "COMMITS", "FOLLOWS"];
    let n = consumers.len();
    let (ranges, cap) = (view.ranges(n), view.list_cap());
    if !view.summarised(n) {
        let rows: Vec<Vec<String>> =
            consumers.iter().map(|c| consumer_row(c, ranges, cap)).collect();
        return table(2, &HEADERS, &rows);
    }
    let sum = summary::summarise(consumers, view.slowest);
    let mut out = summary_head(&sum);
    if !sum.slowest.is_empty() {
        let rows: Vec<Vec<String>> =
            sum.slowest.iter().map(|&i| consumer_row(&consumers[i], ranges, cap)).collect();
        out.push_str(&table(2, &HEADERS, &rows));
    }
    out
}

/// The lines of a summary above its table of the slowest consumers.
pub fn summary_head(sum: &Summary) -> String {
    let mut out = format!("  {}\n  {}\n", sum.counts_text(), sum.lag_text());
    if !sum.slowest.is_empty() {
        let _ = writeln!(out, "  {}", sum.slowest_title());
    }
    out
}

/// The producers section above the orphaned claim: the record count, then the records that
/// have an owner or a pending claim (without `--all`, when there are more than
/// [`summary::SMALL_RING`], the first [`summary::PRODUCER_ROWS`] of them: pending claims
/// first, oldest first, then dead owners).
fn producers_text(record_count: usize, producers: &[ProducerInfo], view: View) -> String {
    let records = format!("{record_count} record{}", plural(record_count as u64));
    if producers.is_empty() {
        return format!("  none attached ({records})\n");
    }
    let mut out = format!(
        "  records: {} of {record_count} with an owner or a pending claim\n",
        producers.len()
    );
    let mut shown: Vec<&ProducerInfo> = producers.iter().collect();
    if !view.all && shown.len() > summary::SMALL_RING {
        shown.sort_by_key(|p| {
            (
                p.pending.as_ref().map_or(u64::MAX, |r| r.start),
                p.state != ParticipantState::Dead,
                p.entry,
            )
        });
        shown.truncate(summary::PRODUCER_ROWS);
    }
    let rows: Vec<Vec<String>> = shown
        .iter()
        .map(|p| {
            vec![
                p.entry.to_string(),
                p.pid.map_or("-".into(), |p| p.to_string()),
                p.state.to_string(),
                p.pending.as_ref().map_or("-".into(), range_text),
            ]
        })
        .collect();
    out.push_str(&table(2, &["ENTRY", "PID", "STATE", "IN-FLIGHT CLAIM"], &rows));
    if shown.len() < producers.len() {
        let hidden: Vec<&ProducerInfo> =
            producers.iter().filter(|p| !shown.iter().any(|s| s.entry == p.entry)).collect();
        let count = |state| hidden.iter().filter(|p| p.state == state).count();
        let _ = writeln!(
            out,
            "  ... and {} more ({} alive, {} dead, {} gone; --all shows every one)",
            hidden.len(),
            count(ParticipantState::Alive),
            count(ParticipantState::Dead),
            count(ParticipantState::Gone)
        );
    }
    out
}

/// The dependency graph: a line per consumer for small rings, otherwise a line per group of
/// consumers that follow the same stages, with index ranges; then the producers' gating set.
fn graph_text(consumers: &[ConsumerInfo], gating: &[usize], view: View) -> String {
    let mut out = String::new();
    let n = consumers.len();
    let (ranges, cap) = (view.ranges(n), view.list_cap());
    if !ranges {
        for c in consumers {
            let _ = writeln!(
                out,
                "  {} -> consumer {}",
                followed(&c.dependencies, false, None),
                c.index
            );
        }
    } else {
        let groups = summary::graph_groups(consumers);
        let shown = if view.all { groups.len() } else { groups.len().min(summary::GRAPH_GROUPS) };
        for (dependencies, members) in &groups[..shown] {
            let _ = writeln!(
                out,
                "  {} -> {}",
                followed(dependencies, true, cap),
                summary::consumers_text(members, true, cap)
            );
        }
        if shown < groups.len() {
            let _ = writeln!(
                out,
                "  ... and {} more groups (--all shows every one; --json every consumer's \
                 dependencies)",
                groups.len() - shown
            );
        }
    }
    let _ = writeln!(
        out,
        "  producers wait for consumer(s) {}",
        summary::indices_text(gating, ranges, cap)
    );
    out
}

/// A ring's consumers summarised in JSON (every consumer is in `consumers` as well).
#[derive(Debug, Serialize)]
pub struct SummaryJson {
    pub live: usize,
    pub dead: usize,
    pub gone: usize,
    pub released: usize,
    /// `None` when every consumer is released.
    pub lag: Option<LagStats>,
    /// The indices of the slowest consumers, slowest first.
    pub slowest: Vec<usize>,
}

impl SummaryJson {
    pub fn new(sum: &Summary, consumers: &[ConsumerInfo]) -> SummaryJson {
        SummaryJson {
            live: sum.live,
            dead: sum.dead,
            gone: sum.gone,
            released: sum.released,
            lag: sum.lag,
            slowest: sum.slowest.iter().map(|&i| consumers[i].index).collect(),
        }
    }
}

/// The schema as `inspect --json` shows it.
#[derive(Debug, Serialize)]
pub struct SchemaJson<'a> {
    pub text: &'a str,
    pub hash: String,
    /// The top-level fields; `None` when the schema table could not be decoded.
    pub fields: Option<&'a [FieldLayout]>,
    /// Why there are no fields.
    pub error: Option<&'a str>,
}

impl<'a> SchemaJson<'a> {
    pub fn new(info: &'a RingInfo, layout: &'a Result<SlotLayout, String>) -> SchemaJson<'a> {
        SchemaJson {
            text: &info.header.schema_text,
            hash: format!("{:#018x}", info.header.schema_hash),
            fields: layout.as_ref().ok().map(|l| l.fields.as_slice()),
            error: layout.as_ref().err().map(String::as_str),
        }
    }
}

/// `inspect --json`: the header and the state (each field of [`RingInfo`]'s parts at the top
/// level), with what the command adds.
#[derive(Debug, Serialize)]
pub struct InspectJson<'a> {
    pub version: u32,
    #[serde(flatten)]
    pub header: &'a shm_disruptor_inspect::HeaderInfo,
    pub schema: SchemaJson<'a>,
    /// `2026-05-01T12:34:56Z`.
    pub created: String,
    #[serde(flatten)]
    pub state: &'a RingState,
    /// For a byte stream: `open`, `eof`, `error` (or `unknown` for another status word).
    pub stream_status: Option<&'static str>,
    pub in_flight: u64,
    pub consumer_summary: SummaryJson,
    pub live_users: &'a [u32],
    pub mapped_by: &'a [u32],
}

pub fn inspect_json<'a>(
    info: &'a RingInfo,
    layout: &'a Result<SlotLayout, String>,
    att: &'a Attachment,
    slowest: usize,
) -> InspectJson<'a> {
    let (h, s) = (&info.header, &info.state);
    InspectJson {
        version: JSON_VERSION,
        header: h,
        schema: SchemaJson::new(info, layout),
        created: utc(h.creation_time_ns),
        state: s,
        stream_status: h.is_stream.then(|| stream_status(s.status)),
        in_flight: s.claim_sequence.saturating_sub(s.cursor),
        consumer_summary: SummaryJson::new(
            &summary::summarise(&s.consumers, slowest),
            &s.consumers,
        ),
        live_users: &att.live_users,
        mapped_by: &att.mapped_by,
    }
}

/// A stream ring's status word in words.
pub fn stream_status(status: i32) -> &'static str {
    match status {
        shm_disruptor::STREAM_OPEN => "open",
        shm_disruptor::STREAM_EOF => "eof",
        shm_disruptor::STREAM_ERROR => "error",
        _ => "unknown",
    }
}

// --- list -----------------------------------------------------------------------------------

fn kind_name(kind: &SegmentKind) -> &'static str {
    match kind {
        SegmentKind::NotAFile(_) => "foreign",
        SegmentKind::TooSmall { .. } => "too-small",
        other => other.name(),
    }
}

pub fn list_text(segments: &[ListedSegment]) -> String {
    let rows: Vec<Vec<String>> = segments
        .iter()
        .map(|seg| {
            let dash = || "-".to_string();
            match &seg.kind {
                SegmentKind::Ring { info, live_users, mapped_by } => {
                    let (h, s) = (&info.header, &info.state);
                    let dead =
                        s.consumers.iter().filter(|c| c.state == ConsumerState::Dead).count();
                    let consumers = if dead > 0 {
                        format!("{} ({dead} dead)", h.consumer_count)
                    } else {
                        h.consumer_count.to_string()
                    };
                    let status = if h.is_stream {
                        stream_status(s.status).to_owned()
                    } else {
                        s.status.to_string()
                    };
                    let mut users = pids_text(&attached(live_users, mapped_by));
                    if all_users_dead(info, live_users, mapped_by) {
                        users = "all dead (rm --dead)".into();
                    }
                    vec![
                        seg.name.clone(),
                        if h.is_stream { "stream".into() } else { "ring".into() },
                        h.type_name.clone(),
                        h.capacity.to_string(),
                        h.slot_size.to_string(),
                        consumers,
                        mode_name(h.producer_mode).into(),
                        status,
                        s.cursor.to_string(),
                        users,
                    ]
                }
                other => {
                    let note = match other {
                        SegmentKind::Corrupt(e) => e.to_string(),
                        SegmentKind::NotInitialised => {
                            "header not written (a creator is writing it, or died)".into()
                        }
                        SegmentKind::Foreign { first_bytes } => {
                            format!("not a ring (first bytes {})", hex(first_bytes))
                        }
                        SegmentKind::Unreadable(e) => e.clone(),
                        SegmentKind::NotAFile(kind) => format!("not a ring ({kind})"),
                        SegmentKind::TooSmall { size, .. } => format!(
                            "too small to be a ring ({size} byte{}; a ring's header alone takes \
                             4096)",
                            plural(*size)
                        ),
                        _ => String::new(),
                    };
                    let mut row = vec![seg.name.clone(), kind_name(other).into()];
                    row.extend(std::iter::repeat_with(dash).take(7));
                    row.push(note);
                    row
                }
            }
        })
        .collect();
    table(
        0,
        &[
            "NAME",
            "KIND",
            "TYPE",
            "CAPACITY",
            "SLOT",
            "CONSUMERS",
            "PRODUCERS",
            "STATUS",
            "CURSOR",
            "ATTACHED",
        ],
        &rows,
    )
}

/// One row of `list --json`.
#[derive(Debug, Serialize)]
pub struct ListEntry<'a> {
    pub name: &'a str,
    pub kind: &'static str,
    pub size: u64,
    #[serde(flatten)]
    pub ring: Option<ListRing<'a>>,
    /// Why a segment is corrupt (`error_kind`, `error`), unreadable (`error`)...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_bytes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_type: Option<&'static str>,
}

/// What `list --json` shows of a ring.
#[derive(Debug, Serialize)]
pub struct ListRing<'a> {
    pub type_name: &'a str,
    pub is_stream: bool,
    pub capacity: u64,
    pub slot_size: u64,
    pub consumer_count: usize,
    pub dead_consumers: usize,
    pub producer_mode: ProducerMode,
    pub status: i32,
    pub cursor: u64,
    pub claim_sequence: u64,
    pub live_users: &'a [u32],
    pub mapped_by: &'a [u32],
    /// Whether any process maps it.
    pub attached: bool,
    /// Whether every process that used it has died (`rm --dead` removes it).
    pub all_users_dead: bool,
    pub blocked_by: Vec<usize>,
}

/// Whether a ring's users are all dead: nobody maps it or holds a record, and a dead owner is
/// recorded (a ring whose users all let go cleanly is idle, not dead).
pub fn all_users_dead(info: &RingInfo, live_users: &[u32], mapped_by: &[u32]) -> bool {
    let s = &info.state;
    let dead = s.consumers.iter().any(|c| c.state == ConsumerState::Dead)
        || s.producers.iter().any(|p| p.state == ParticipantState::Dead);
    dead && live_users.is_empty() && mapped_by.is_empty()
}

#[derive(Debug, Serialize)]
pub struct ListJson<'a> {
    pub version: u32,
    pub segments: Vec<ListEntry<'a>>,
}

pub fn list_json(segments: &[ListedSegment]) -> ListJson<'_> {
    let entries = segments
        .iter()
        .map(|seg| {
            let mut entry = ListEntry {
                name: &seg.name,
                kind: seg.kind.name(),
                size: seg.size,
                ring: None,
                error_kind: None,
                error: None,
                first_bytes: None,
                file_type: None,
            };
            match &seg.kind {
                SegmentKind::Ring { info, live_users, mapped_by } => {
                    let (h, s) = (&info.header, &info.state);
                    entry.ring = Some(ListRing {
                        type_name: &h.type_name,
                        is_stream: h.is_stream,
                        capacity: h.capacity,
                        slot_size: h.slot_size,
                        consumer_count: h.consumer_count,
                        dead_consumers: s
                            .consumers
                            .iter()
                            .filter(|c| c.state == ConsumerState::Dead)
                            .count(),
                        producer_mode: h.producer_mode,
                        status: s.status,
                        cursor: s.cursor,
                        claim_sequence: s.claim_sequence,
                        live_users,
                        mapped_by,
                        attached: !attached(live_users, mapped_by).is_empty(),
                        all_users_dead: all_users_dead(info, live_users, mapped_by),
                        blocked_by: s.blocked_by.iter().map(|b| b.index).collect(),
                    });
                }
                SegmentKind::Corrupt(e) => {
                    entry.error_kind = Some(shm_disruptor_inspect::error_kind(e));
                    entry.error = Some(e.to_string());
                }
                SegmentKind::Foreign { first_bytes }
                | SegmentKind::TooSmall { first_bytes, .. } => {
                    entry.first_bytes = Some(hex(first_bytes));
                }
                SegmentKind::Unreadable(e) => entry.error = Some(e.clone()),
                SegmentKind::NotAFile(kind) => entry.file_type = Some(kind),
                _ => {}
            }
            entry
        })
        .collect();
    ListJson { version: JSON_VERSION, segments: entries }
}

// --- peek -----------------------------------------------------------------------------------

pub fn peek_text(info: &RingInfo, layout: &Result<SlotLayout, String>, peek: &Peek) -> String {
    if info.header.is_stream {
        return stream_peek_text(info, peek);
    }
    let mut out = String::new();
    let _ = writeln!(out, "ring {}: {}", info.header.name, info.header.schema_text);
    if let Err(e) = layout {
        let _ = writeln!(out, "fields not decoded ({e}); hex only");
    }
    if peek.cursor == 0 {
        let _ = writeln!(out, "cursor {}: nothing published yet", peek.cursor);
        return out;
    }
    let _ = writeln!(
        out,
        "cursor {}: the last {} published slot{}",
        peek.cursor,
        peek.slots.len(),
        plural(peek.slots.len() as u64)
    );
    if peek.overwritten > 0 {
        let _ = writeln!(
            out,
            "({} older slot(s) were being overwritten by producers and are not shown)",
            peek.overwritten
        );
    }
    for slot in &peek.slots {
        let _ = writeln!(out, "\nsequence {}", slot.sequence);
        if let Ok(layout) = layout {
            for f in layout.decode(&slot.bytes) {
                let _ = writeln!(out, "  {}: {} = {}", f.name, f.ty, f.value);
            }
        }
        out.push_str(&hex_dump(&slot.bytes, "  "));
    }
    out
}

/// One slot of `peek --json`.
#[derive(Debug, Serialize)]
pub struct PeekSlotJson {
    pub sequence: u64,
    /// The decoded fields; `None` when the schema table could not be decoded.
    pub fields: Option<Vec<DecodedField>>,
    pub hex: String,
}

#[derive(Debug, Serialize)]
pub struct PeekJson<'a> {
    pub version: u32,
    pub name: &'a str,
    pub type_name: &'a str,
    pub schema: &'a str,
    pub layout_error: Option<&'a str>,
    pub cursor: u64,
    pub overwritten: usize,
    pub slots: Vec<PeekSlotJson>,
    /// For a byte stream: the peeked bytes as text (invalid UTF-8 replaced) and the stream
    /// status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_status: Option<&'static str>,
}

/// A byte stream's last bytes: as text, then as a hex dump.
fn stream_peek_text(info: &RingInfo, peek: &Peek) -> String {
    let mut out = String::new();
    let bytes: Vec<u8> = peek.slots.iter().flat_map(|s| s.bytes.iter().copied()).collect();
    let _ = writeln!(
        out,
        "stream {}: {} byte{} written, status {}",
        info.header.name,
        peek.cursor,
        plural(peek.cursor),
        stream_status(info.state.status)
    );
    if bytes.is_empty() {
        let _ = writeln!(out, "nothing written yet");
        return out;
    }
    let first = peek.slots.first().map_or(0, |s| s.sequence);
    let _ = writeln!(
        out,
        "the last {} byte{} (from byte {first}):",
        bytes.len(),
        plural(bytes.len() as u64)
    );
    let text = String::from_utf8_lossy(&bytes);
    let _ = writeln!(out, "  text: {}", text.escape_debug());
    out.push_str(&hex_dump(&bytes, "  "));
    out
}

pub fn peek_json<'a>(
    info: &'a RingInfo,
    layout: &'a Result<SlotLayout, String>,
    peek: &Peek,
) -> PeekJson<'a> {
    let stream = info.header.is_stream;
    let bytes: Vec<u8> = peek.slots.iter().flat_map(|s| s.bytes.iter().copied()).collect();
    PeekJson {
        version: JSON_VERSION,
        name: &info.header.name,
        type_name: &info.header.type_name,
        schema: &info.header.schema_text,
        layout_error: layout.as_ref().err().map(String::as_str),
        cursor: peek.cursor,
        overwritten: peek.overwritten,
        slots: if stream {
            Vec::new()
        } else {
            peek.slots
                .iter()
                .map(|slot| PeekSlotJson {
                    sequence: slot.sequence,
                    fields: layout.as_ref().ok().map(|l| l.decode(&slot.bytes)),
                    hex: hex(&slot.bytes),
                })
                .collect()
        },
        text: stream.then(|| String::from_utf8_lossy(&bytes).into_owned()),
        stream_status: stream.then(|| stream_status(info.state.status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        // 2000-02-29T12:34:56Z, a leap day.
        assert_eq!(utc(951_827_696 * 1_000_000_000), "2000-02-29T12:34:56Z");
        assert_eq!(utc(1_767_225_600 * 1_000_000_000 - 1), "2025-12-31T23:59:59Z");
    }

    #[test]
    fn a_large_graph_shows_its_first_groups_unless_all() {
        // A chain of 30: consumer i follows consumer i - 1, so no two share their stages.
        let consumers: Vec<ConsumerInfo> = (0..30)
            .map(|index| ConsumerInfo {
                index,
                sequence: 0,
                lag: Some(0),
                state: ConsumerState::Gone,
                owner_pid: None,
                commits: 0,
                dependencies: if index == 0 { vec![] } else { vec![index - 1] },
            })
            .collect();
        let some = graph_text(&consumers, &[29], View { all: false, slowest: 10 });
        let lines: Vec<&str> = some.lines().collect();
        assert_eq!(lines.len(), summary::GRAPH_GROUPS + 2, "{some}");
        assert_eq!(lines[0], "  cursor -> consumer 0");
        assert_eq!(lines[1], "  consumer 0 -> consumer 1");
        assert!(lines[20].starts_with("  ... and 10 more groups"), "{some}");
        assert_eq!(lines[21], "  producers wait for consumer(s) 29");
        let all = graph_text(&consumers, &[29], View { all: true, slowest: 10 });
        assert_eq!(all.lines().count(), 31, "{all}");
        assert!(all.contains("  consumer 28 -> consumer 29\n"), "{all}");
    }

    #[test]
    fn tables_align_and_hex_dumps_show_ascii() {
        let rows = [vec!["xyz".into(), "1".into(), "a b".into()], vec!["w".into(), "22".into()]];
        let t = table(2, &["A", "BB", "C"], &rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3, "{t}");
        // Indented, no borders, no trailing spaces; every column starts where its header does.
        assert!(lines.iter().all(|l| l.starts_with("  ") && l.trim_end() == *l), "{t}");
        let at = |l: &str, s: &str| l.find(s).unwrap();
        assert_eq!(at(lines[1], "1"), at(lines[0], "BB"), "{t}");
        assert_eq!(at(lines[2], "22"), at(lines[0], "BB"), "{t}");
        assert_eq!(at(lines[1], "a b"), at(lines[0], "C"), "{t}");
        assert_eq!(lines[2].split_whitespace().collect::<Vec<_>>(), ["w", "22"], "{t}");
        // Two spaces after the widest cell of a column.
        assert_eq!(at(lines[0], "BB"), at(lines[1], "xyz") + "xyz  ".len(), "{t}");
        // Without headers, rows only.
        assert_eq!(table(0, &[], &[vec!["k".into(), "v".into()]]).lines().count(), 1);

        let dump = hex_dump(b"AB\x00 ~\x7f0123456789abcdefgh", "  ");
        let lines: Vec<&str> = dump.lines().collect();
        assert_eq!(lines.len(), 2, "{dump}");
        assert!(lines[0].starts_with("  0000:"), "{dump}");
        assert!(lines[1].starts_with("  0010:"), "{dump}");
        let cells: Vec<&str> = lines[0].split_whitespace().collect();
        assert_eq!(cells[1..4], ["41", "42", "00"], "{dump}");
        assert_eq!(cells[16], "39", "{dump}"); // '9', the 16th byte
        assert!(lines[0].ends_with("AB. ~.0123456789"), "{dump}");
    }
}
