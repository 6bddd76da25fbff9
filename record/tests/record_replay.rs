//! The typed and untyped recording API against real shared-memory rings: a million messages
//! recorded and replayed, truncated and damaged files, another type, a lapped tail reader.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use shm_disruptor::raw::RawRing;
use shm_disruptor::{Disruptor, Slot, WaitStrategy};
use shm_disruptor_record::{
    record_tail, Frame, RecordError, RecordReader, RecordWriter, Recorder, RecordingHeader,
    ReplayOptions, Replayer, Stop,
};
use shm_disruptor_tests::SegmentGuard;

const LIMIT: Duration = Duration::from_secs(60);

#[derive(Slot, Clone, Copy, Debug, PartialEq)]
#[repr(C)]
struct Order {
    id: u64,
    price: f64,
    qty: u32,
    side: u8,
    _pad: [u8; 3],
}

fn order(i: u64) -> Order {
    let mix = i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    Order {
        id: i,
        price: (mix >> 11) as f64 / 7.0,
        qty: (mix >> 40) as u32,
        side: (mix & 1) as u8,
        _pad: [0; 3],
    }
}

/// An order-sensitive checksum (FNV-1a over every field): a message lost, changed, repeated or
/// moved changes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Checksum(u64, u64);

impl Checksum {
    fn new() -> Checksum {
        Checksum(0xcbf2_9ce4_8422_2325, 0)
    }

    fn add(&mut self, o: &Order) {
        for word in [o.id, o.price.to_bits(), u64::from(o.qty), u64::from(o.side)] {
            self.0 = (self.0 ^ word).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.1 += 1;
    }
}

/// A file in the temporary directory, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(tag: &str) -> TempFile {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        TempFile(
            std::env::temp_dir().join(format!("sd-rec-{}-{n}-{tag}.shmrec", std::process::id())),
        )
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn ring<T: Slot>(guard: &SegmentGuard, capacity: usize) -> Disruptor<T> {
    Disruptor::<T>::builder(guard.name())
        .capacity(capacity)
        .consumers(1)
        .wait_strategy(WaitStrategy::Yield)
        .create()
        .unwrap()
}

/// Reads `count` orders from consumer 0 of `ring`: their checksum.
fn consume_checksum(ring: &Disruptor<Order>, count: u64) -> Checksum {
    let mut consumer = ring.consumer(0).unwrap();
    let mut sum = Checksum::new();
    while sum.1 < count {
        let batch = consumer.consume_timeout(LIMIT).expect("the replay stalled");
        batch.iter().for_each(|o| sum.add(o));
        batch.commit();
    }
    sum
}

#[test]
fn a_million_messages_recorded_and_replayed_into_a_new_ring_give_the_same_checksum() {
    const COUNT: u64 = 1_000_000;
    let file = TempFile::new("million");
    let source_guard = SegmentGuard::new("rec-source");
    let source = ring::<Order>(&source_guard, 4096);
    // Producer thread, recorder (consumer 0) here.
    let produced = std::thread::scope(|s| {
        let producer = s.spawn(|| {
            let mut producer = source.producer().unwrap();
            let mut sum = Checksum::new();
            let mut i = 0;
            while i < COUNT {
                let n = (COUNT - i).min(97) as usize; // batches that do not divide the ring
                let mut claim =
                    producer.claim_many_timeout(n, LIMIT).expect("the recorder stalled");
                claim.iter_mut().enumerate().for_each(|(k, slot)| *slot = order(i + k as u64));
                claim.commit();
                (i..i + n as u64).for_each(|j| sum.add(&order(j)));
                i += n as u64;
            }
            sum
        });
        let mut consumer = source.consumer(0).unwrap();
        let mut recorder = Recorder::create(file.path(), &source).unwrap();
        while recorder.summary().messages < COUNT {
            let batch = consumer.consume_timeout(LIMIT).expect("the producer stalled");
            recorder.record(&batch).unwrap();
            batch.commit();
        }
        let summary = recorder.finish().unwrap();
        assert_eq!(
            (summary.messages, summary.gaps, summary.first, summary.end),
            (COUNT, 0, Some(0), Some(COUNT))
        );
        producer.join().unwrap()
    });
    // Replay into a new ring of another capacity.
    let mut replayer = Replayer::<Order>::open(file.path()).unwrap();
    assert_eq!(replayer.header().capacity, 4096);
    assert_eq!(replayer.header().ring, source_guard.name());
    assert_eq!(replayer.summary().messages, COUNT);
    let target_guard = SegmentGuard::new("rec-target");
    let target = ring::<Order>(&target_guard, 1000);
    let (report, replayed) = std::thread::scope(|s| {
        let reader = s.spawn(|| consume_checksum(&target, COUNT));
        let report = replayer
            .replay_into(&mut target.producer().unwrap(), &ReplayOptions::default())
            .unwrap();
        (report, reader.join().unwrap())
    });
    assert_eq!(report.messages, COUNT);
    assert_eq!(replayed, produced, "the replay delivered every message, in order, unchanged");
    assert_eq!(target.cursor(), COUNT);
}

/// A recording of 10 batches (sizes 1..=10) of `u64`s equal to their sequence; the file's
/// length after the header and after each frame.
fn ten_batches(file: &TempFile) -> Vec<u64> {
    let guard = SegmentGuard::new("rec-ten");
    let ring = ring::<u64>(&guard, 64);
    let mut writer = RecordWriter::create(file.path(), &RecordingHeader::of_ring(&ring)).unwrap();
    let mut ends = Vec::new();
    let mut mark = |writer: &mut RecordWriter| {
        writer.flush().unwrap();
        ends.push(std::fs::metadata(file.path()).unwrap().len());
    };
    mark(&mut writer);
    let mut sequence = 0u64;
    for n in 1..=10u64 {
        let values: Vec<u64> = (sequence..sequence + n).collect();
        writer.write_batch(sequence, &[bytemuck::cast_slice(&values)]).unwrap();
        sequence += n;
        mark(&mut writer);
    }
    writer.finish().unwrap();
    ends
}

#[test]
fn a_truncated_recording_is_reported_with_its_complete_batches_at_every_cut() {
    let file = TempFile::new("truncated");
    let ends = ten_batches(&file);
    let whole = std::fs::read(file.path()).unwrap();
    assert_eq!(RecordReader::open(file.path()).unwrap().summary().batches, 10);
    let cut = TempFile::new("cut");
    // Every length from empty to one byte short of the whole file.
    for len in 0..whole.len() as u64 {
        std::fs::write(cut.path(), &whole[..len as usize]).unwrap();
        let complete = ends[1..].iter().filter(|&&end| end <= len).count() as u64;
        let messages = (1..=complete).sum::<u64>();
        match RecordReader::open(cut.path()) {
            Err(RecordError::TooSmall { len: l, .. }) => assert!(len < 16 && l == len, "{len}"),
            Err(RecordError::Truncated {
                complete_batches,
                messages: m,
                valid_bytes,
                file_bytes,
                cut_in_frame,
                ..
            }) => {
                assert_eq!((complete_batches, m), (complete, messages), "cut at {len}");
                assert_eq!(file_bytes, len);
                assert!(len >= 16, "{len}");
                if len >= ends[0] {
                    assert_eq!(valid_bytes, *ends.iter().rfind(|&&end| end <= len).unwrap());
                    // At a frame boundary without the end frame: not cut inside a frame.
                    assert_eq!(cut_in_frame, !ends.contains(&len), "cut at {len}");
                }
                let message = RecordReader::open(cut.path()).unwrap_err().to_string();
                assert!(message.contains(&format!("{complete} complete batch(es)")), "{message}");
                // What it holds is readable, frame by frame.
                if len >= ends[0] {
                    let mut reader = RecordReader::open_truncated(cut.path()).unwrap();
                    assert!(!reader.summary().finished);
                    assert_eq!(reader.summary().batches, complete);
                    let frames: Vec<Frame> =
                        reader.frames().unwrap().collect::<Result<_, _>>().unwrap();
                    assert_eq!(frames.len() as u64, complete);
                    let values: Vec<u64> = frames
                        .iter()
                        .flat_map(|f| match f {
                            Frame::Batch { bytes, .. } => {
                                bytemuck::pod_collect_to_vec::<u8, u64>(bytes)
                            }
                            Frame::Gap { .. } => panic!("no gaps here"),
                        })
                        .collect();
                    assert!(values.iter().copied().eq(0..messages));
                }
            }
            other => panic!("cut at {len} of {}: {other:?}", whole.len()),
        }
    }
}

#[test]
fn a_damaged_recording_is_refused_as_corrupt() {
    let file = TempFile::new("damaged");
    let ends = ten_batches(&file);
    let whole = std::fs::read(file.path()).unwrap();
    let damaged = TempFile::new("damaged-copy");
    // A bit flipped in the header, in the 5th batch's payload, in the end frame.
    for (at, batches_before) in [(20usize, 0u64), (ends[4] as usize + 30, 4), (whole.len() - 6, 10)]
    {
        let mut bytes = whole.clone();
        bytes[at] ^= 0x10;
        std::fs::write(damaged.path(), &bytes).unwrap();
        match RecordReader::open(damaged.path()) {
            Err(RecordError::Corrupt { complete_batches, reason, .. }) => {
                assert_eq!(complete_batches, batches_before, "flip at {at}");
                assert!(reason.contains("CRC"), "{reason}");
            }
            other => panic!("flip at {at}: {other:?}"),
        }
    }
    // Bytes after the end frame.
    let mut bytes = whole.clone();
    bytes.push(0);
    std::fs::write(damaged.path(), &bytes).unwrap();
    assert!(matches!(RecordReader::open(damaged.path()), Err(RecordError::Corrupt { .. })));
    // Not a recording at all.
    std::fs::write(damaged.path(), b"hello, this is not a recording").unwrap();
    assert!(matches!(RecordReader::open(damaged.path()), Err(RecordError::NotARecording { .. })));
}

#[test]
fn a_recording_of_another_type_is_refused_with_the_field_that_differs() {
    #[derive(Slot, Clone, Copy, Debug, PartialEq)]
    #[repr(C)]
    #[slot(name = "Order")]
    struct OrderV2 {
        id: u64,
        price: f64,
        side: u8,
        _pad: [u8; 3],
        qty: u32,
    }
    let file = TempFile::new("other-type");
    let guard = SegmentGuard::new("rec-other");
    let source = ring::<Order>(&guard, 8);
    let mut recorder = Recorder::create(file.path(), &source).unwrap();
    recorder.write(0, &[order(0), order(1)]).unwrap();
    recorder.finish().unwrap();
    match Replayer::<OrderV2>::open(file.path()) {
        Err(e @ RecordError::SchemaMismatch { .. }) => {
            let text = e.to_string();
            assert!(text.contains("first difference"), "{text}");
            assert!(text.contains("qty: u32 @16") && text.contains("side: u8 @16"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(Replayer::<u64>::open(file.path()), Err(RecordError::SchemaMismatch { .. })));
    let frames: Vec<_> = Replayer::<Order>::open(file.path()).unwrap().frames().unwrap().collect();
    assert_eq!(frames.len(), 1);
}

#[test]
fn a_lapped_tail_reader_records_exactly_the_sequences_it_lost() {
    let file = TempFile::new("tail");
    let guard = SegmentGuard::new("rec-tail");
    let typed = ring::<u64>(&guard, 8);
    let mut producer = typed.producer().unwrap();
    let mut consumer = typed.consumer(0).unwrap();
    // 20 messages (each its own sequence) through 8 slots before the tail reader looks:
    // 0..12 are gone.
    for round in 0..4 {
        producer.publish_batch(5, |i, slot| *slot = round * 5 + i as u64).unwrap();
        consumer.try_consume().commit();
    }
    let raw = RawRing::from_typed(&typed);
    let mut writer = RecordWriter::create(file.path(), &RecordingHeader::of_raw(&raw)).unwrap();
    let flag = AtomicBool::new(false);
    record_tail(&raw, &mut writer, Some(0), Stop { flag: &flag, after: Some(8) }).unwrap();
    let summary = writer.finish().unwrap();
    assert_eq!((summary.gaps, summary.missing, summary.messages), (1, 12, 8));
    let mut reader = RecordReader::open(file.path()).unwrap();
    let frames: Vec<Frame> = reader.frames().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(frames[0], Frame::Gap { first: 0, count: 12 });
    match &frames[1] {
        Frame::Batch { first: 12, bytes } => {
            assert!(bytemuck::pod_collect_to_vec::<u8, u64>(bytes).into_iter().eq(12..20));
        }
        other => panic!("{other:?}"),
    }
    // Not lapped: the next messages follow without a gap.
    let mut writer = RecordWriter::create(file.path(), &RecordingHeader::of_raw(&raw)).unwrap();
    producer.publish_batch(3, |i, slot| *slot = 20 + i as u64).unwrap();
    record_tail(&raw, &mut writer, Some(20), Stop { flag: &flag, after: Some(3) }).unwrap();
    let summary = writer.finish().unwrap();
    assert_eq!((summary.gaps, summary.messages, summary.first), (0, 3, Some(20)));
    let mut reader = RecordReader::open(file.path()).unwrap();
    let frames: Vec<Frame> = reader.frames().unwrap().collect::<Result<_, _>>().unwrap();
    let values: Vec<u64> = match &frames[..] {
        [Frame::Batch { first: 20, bytes }] => bytemuck::pod_collect_to_vec(bytes),
        other => panic!("{other:?}"),
    };
    assert_eq!(values, [20, 21, 22]);
}
