//! The other side of the trust regression tests (`tests/trust.rs`): one role per invocation,
//! each printing one line that the test reads, then exiting or hanging (for at most two
//! minutes) until the test kills it. Messages are `u64` values equal to their sequence, or
//! bytes of a stream.
//!
//! - `claim-and-hang NAME N`: a producer claims `N` slots and holds the claim: `CLAIMED s e`.
//! - `try-recover NAME START END`: a producer tries `recover(START..END)` and
//!   `recover_orphaned()`: `RECOVER <some|none> ORPHANED <some|none>`; exits.
//! - `release-consumer NAME INDEX`: takes consumer `INDEX` and releases it: `RELEASED`; hangs.
//! - `hold-consumer NAME INDEX`: takes consumer `INDEX` and holds it: `HOLDING`; hangs.
//! - `take-producer NAME`: takes a producer handle: `PRODUCER` or `REFUSED <error>`; hangs.
//! - `no-membarrier ROLE ...`: installs a seccomp filter that refuses `membarrier` (EPERM), as a
//!   container's profile may, then runs ROLE:
//!   - `open NAME`: opens the ring: `OPENED <fence mode>` or `ERROR <display>`; exits.
//!   - `create NAME`: creates a ring of 8 `u64`, 1 consumer: `CREATED <fence mode>`; then waits
//!     (Block) as consumer 0 for one message: `GOT <value>`; exits.
//! - `create NAME CAPACITY`: creates a ring of `CAPACITY` `u64`, writes every slot, and
//!   prints `CREATED` or `ERROR <display>`; exits (run in a small tmpfs by the tests).
//! - `open NAME`: opens the ring as consumer 0: `OPENED` or `ERROR <display>`; exits (run as
//!   another user by the tests).
//! - `consume-async NAME`: awaits `consume_async` on an empty ring: `ERROR <display>` or
//!   `GOT <n>`; exits (run where no thread can be started).
//! - `stream-write-and-hang NAME BYTES`: a stream writer writes `BYTES` bytes (`i % 251`),
//!   then hangs without ending the stream: `WROTE <bytes>`.
//! - `claim-drop-loop NAME`: a producer claims one slot and drops the claim (given back: it is
//!   the newest), over and over: `READY`, then loops until killed.

use std::io::Write;
use std::time::Duration;

use shm_disruptor::{Disruptor, StreamWriter, WaitStrategy};
use shm_disruptor_tests::say;

const LIMIT: Duration = Duration::from_secs(60);

fn hang() -> ! {
    shm_disruptor_tests::hang("trust_actor")
}

/// `AUDIT_ARCH_*` of this target: its ELF machine, 64-bit, little-endian.
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;

/// Makes `membarrier` fail with EPERM in this process, as a seccomp profile may.
fn refuse_membarrier() {
    use libc::{sock_filter, sock_fprog};
    const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    // `struct seccomp_data`: the syscall number at offset 0, the architecture at offset 4.
    let filter = [
        sock_filter { code: LD_W_ABS, jt: 0, jf: 0, k: 4 },
        sock_filter { code: JEQ_K, jt: 1, jf: 0, k: AUDIT_ARCH },
        sock_filter { code: RET_K, jt: 0, jf: 0, k: libc::SECCOMP_RET_ALLOW },
        sock_filter { code: LD_W_ABS, jt: 0, jf: 0, k: 0 },
        sock_filter { code: JEQ_K, jt: 0, jf: 1, k: libc::SYS_membarrier as u32 },
        sock_filter { code: RET_K, jt: 0, jf: 0, k: libc::SECCOMP_RET_ERRNO | libc::EPERM as u32 },
        sock_filter { code: RET_K, jt: 0, jf: 0, k: libc::SECCOMP_RET_ALLOW },
    ];
    let program = sock_fprog { len: filter.len() as u16, filter: filter.as_ptr().cast_mut() };
    // SAFETY: plain prctl calls; `program` points to `filter`, which outlives the call (the
    // kernel copies the program).
    let installed = unsafe {
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
            && libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &program as *const sock_fprog,
            ) == 0
    };
    assert!(installed, "seccomp: {}", std::io::Error::last_os_error());
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("no-membarrier") {
        refuse_membarrier();
        args.remove(0);
        return match args.first().map(String::as_str) {
            Some("open") => {
                match Disruptor::<u64>::open(&args[1]) {
                    Ok(ring) => say(&format!("OPENED {}", ring.fence_mode())),
                    Err(e) => say(&format!("ERROR {e}")),
                }
                Ok(())
            }
            Some("create") => {
                let ring = Disruptor::<u64>::builder(&args[1]).capacity(8).consumers(1).create()?;
                let mut consumer = ring.consumer(0)?;
                consumer.set_wait_strategy(WaitStrategy::Block);
                say(&format!("CREATED {}", ring.fence_mode()));
                let batch = consumer.consume_timeout(LIMIT)?;
                say(&format!("GOT {}", batch.iter().next().copied().unwrap_or_default()));
                Ok(())
            }
            other => Err(format!("unknown role no-membarrier {other:?}").into()),
        };
    }
    let name = args.get(1).cloned().ok_or("missing ring name")?;
    let number = |i: usize| -> Result<u64, Box<dyn std::error::Error>> {
        Ok(args.get(i).ok_or("missing argument")?.parse()?)
    };
    match args.first().map(String::as_str) {
        Some("claim-and-hang") => {
            let ring = Disruptor::<u64>::open(&name)?;
            let mut producer = ring.producer()?;
            let mut claim = producer.claim_many_timeout(number(2)? as usize, LIMIT)?;
            let start = claim.start();
            for (i, v) in claim.iter_mut().enumerate() {
                *v = start + i as u64;
            }
            say(&format!("CLAIMED {} {}", claim.start(), claim.start() + claim.len() as u64));
            hang()
        }
        Some("try-recover") => {
            let ring = Disruptor::<u64>::open(&name)?;
            let mut producer = ring.producer()?;
            let recovered = producer.recover(number(2)?..number(3)?).is_some();
            let orphaned = producer.recover_orphaned().is_some();
            let word = |some: bool| if some { "some" } else { "none" };
            say(&format!("RECOVER {} ORPHANED {}", word(recovered), word(orphaned)));
            Ok(())
        }
        Some("release-consumer") => {
            let ring = Disruptor::<u64>::open(&name)?;
            ring.consumer(number(2)? as usize)?.release();
            say("RELEASED");
            hang()
        }
        Some("hold-consumer") => {
            let ring = Disruptor::<u64>::open(&name)?;
            let _consumer = ring.consumer(number(2)? as usize)?;
            say("HOLDING");
            hang()
        }
        Some("take-producer") => {
            let ring = Disruptor::<u64>::open(&name)?;
            match ring.producer() {
                Ok(_producer) => {
                    say("PRODUCER");
                    hang()
                }
                Err(e) => {
                    say(&format!("REFUSED {e}"));
                    hang()
                }
            }
        }
        Some("create") => {
            let built = Disruptor::<u64>::builder(&name)
                .capacity(number(2)? as usize)
                .consumers(1)
                .single_producer()
                .create();
            match built {
                Ok(ring) => {
                    // Touch every slot: with the segment allocated in full, this cannot fault.
                    let mut producer = ring.producer()?;
                    let mut claim = producer.claim_many(ring.capacity())?;
                    claim.iter_mut().for_each(|v| *v = 7);
                    claim.commit();
                    say("CREATED");
                }
                Err(e) => say(&format!("ERROR {e}")),
            }
            Ok(())
        }
        Some("open") => {
            match Disruptor::<u64>::open(&name)
                .map_err(|e| e.to_string())
                .and_then(|ring| ring.consumer(0).map(drop).map_err(|e| e.to_string()))
            {
                Ok(()) => say("OPENED"),
                Err(e) => say(&format!("ERROR {e}")),
            }
            Ok(())
        }
        Some("consume-async") => {
            let ring = Disruptor::<u64>::open(&name)?;
            let mut consumer = ring.consumer(0)?;
            let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
            runtime.block_on(async {
                let waited = tokio::time::timeout(LIMIT, consumer.consume_async()).await;
                match waited {
                    Ok(Ok(batch)) => say(&format!("GOT {}", batch.len())),
                    Ok(Err(e)) => say(&format!("ERROR {e}")),
                    Err(_) => say("TIMEOUT"),
                }
            });
            Ok(())
        }
        Some("claim-drop-loop") => {
            let ring = Disruptor::<u64>::open(&name)?;
            let mut producer = ring.producer()?;
            say("READY");
            let started = std::time::Instant::now();
            while started.elapsed() < Duration::from_secs(120) {
                drop(producer.claim_timeout(LIMIT)?);
            }
            Ok(())
        }
        Some("stream-write-and-hang") => {
            let ring = Disruptor::<u8>::open(&name)?;
            let mut writer = StreamWriter::new(ring.producer()?);
            let bytes: Vec<u8> = (0..number(2)?).map(|i| (i % 251) as u8).collect();
            writer.write_all(&bytes)?;
            say(&format!("WROTE {}", bytes.len()));
            // Hang with the stream open: a writer killed now never ends it.
            std::mem::forget(writer);
            hang()
        }
        other => Err(format!("unknown role {other:?}").into()),
    }
}
