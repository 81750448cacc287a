//! Streaming verification of a stored log against its hash chain and signed checkpoints.
//!
//! What verification proves: every event up to the last valid checkpoint is exactly what was recorded, none is
//! missing, none was inserted, and the log was not cut short before that checkpoint.
//!
//! Limitation: events after the last checkpoint are protected only by the hash chain. Someone with write access to
//! the database can delete them from the end (or rewrite them and recompute their hashes) without detection. The
//! store signs checkpoints frequently to keep that window small, and [`Report::unsigned_tail`] says how many events
//! it currently holds.

use std::fmt;

use crate::chain::{Digest, GENESIS, link};
use crate::event::Event;
use crate::signer::{Checkpoint, PublicKey};

/// An event as read back from storage, with the chain hash recorded when it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// The event.
    pub event: Event,
    /// The chain hash stored alongside it.
    pub hash: Digest,
}

/// The first thing found wrong with a log. Its `Display` is a sentence naming the first broken or missing event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Event `expected_seq` is missing: the next event read had `found_seq` (larger: deleted; smaller: duplicated or
    /// out of order).
    Gap {
        /// The sequence number that should have come next.
        expected_seq: i64,
        /// The sequence number that came instead.
        found_seq: i64,
    },
    /// The content of event `seq` no longer matches its recorded hash.
    Altered {
        /// The altered event.
        seq: i64,
    },
    /// The recorded hash of event `seq` was changed while the event and the rest of the chain are intact.
    BadLink {
        /// The event whose recorded hash is wrong.
        seq: i64,
    },
    /// The chain hash at event `seq` differs from the one a valid checkpoint signed: events up to `seq` were
    /// rewritten and their hashes recomputed.
    CheckpointMismatch {
        /// The checkpoint's sequence number.
        seq: i64,
    },
    /// The checkpoint at `seq` names a trusted key but its signature does not verify.
    BadSignature {
        /// The checkpoint's sequence number.
        seq: i64,
    },
    /// The checkpoint at `seq` was signed by a key that is not trusted.
    UnknownKey {
        /// The checkpoint's sequence number.
        seq: i64,
        /// The key id the checkpoint names.
        key_id: String,
    },
    /// A valid checkpoint covers event `seq` but the log ends before it: events were deleted from the end.
    CheckpointBeyondLog {
        /// The checkpoint's sequence number.
        seq: i64,
    },
    /// Retention removed events up to `seq`, but no signed checkpoint at `seq` vouches for where the chain resumes.
    UnsignedAnchor {
        /// The last removed event.
        seq: i64,
    },
}

impl Problem {
    /// The sequence number the problem names.
    #[must_use]
    pub fn seq(&self) -> i64 {
        match self {
            Self::Gap { expected_seq, .. } => *expected_seq,
            Self::Altered { seq }
            | Self::BadLink { seq }
            | Self::CheckpointMismatch { seq }
            | Self::BadSignature { seq }
            | Self::UnknownKey { seq, .. }
            | Self::CheckpointBeyondLog { seq }
            | Self::UnsignedAnchor { seq } => *seq,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Gap { expected_seq, found_seq } if found_seq > expected_seq => {
                write!(f, "event {expected_seq} is missing: the next event in the log is {found_seq}")
            }
            Self::Gap { expected_seq, found_seq } => {
                write!(
                    f,
                    "event {expected_seq} is missing: found event {found_seq} instead (duplicated or out of order)"
                )
            }
            Self::Altered { seq } => write!(f, "event {seq} was altered: it no longer matches its recorded hash"),
            Self::BadLink { seq } => {
                write!(f, "the recorded hash of event {seq} was altered: it does not link the event into the chain")
            }
            Self::CheckpointMismatch { seq } => write!(
                f,
                "events up to {seq} were rewritten: the chain hash at event {seq} differs from its signed checkpoint"
            ),
            Self::BadSignature { seq } => write!(f, "the checkpoint at event {seq} has an invalid signature"),
            Self::UnknownKey { seq, key_id } => {
                write!(f, "the checkpoint at event {seq} is signed by untrusted key {key_id:?}")
            }
            Self::CheckpointBeyondLog { seq } => write!(
                f,
                "event {seq} is missing: a signed checkpoint covers it but the log ends earlier (events were deleted \
                 from the end)"
            ),
            Self::UnsignedAnchor { seq } => write!(
                f,
                "events up to {seq} were removed, but no signed checkpoint at event {seq} proves where the chain resumes"
            ),
        }
    }
}

/// The outcome of verifying a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Events verified before the first problem (all of them when there is none).
    pub events: u64,
    /// Checkpoints whose signature and hash were verified.
    pub checkpoints: u64,
    /// Sequence number of the last verified event (0 when none).
    pub last_seq: i64,
    /// Sequence number covered by the last verified checkpoint (0 when none).
    pub last_signed_seq: i64,
    /// The first problem found, if any.
    pub problem: Option<Problem>,
}

impl Report {
    /// Whether the log verified without any problem.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.problem.is_none()
    }

    /// How many trailing events no checkpoint covers yet; these could be truncated undetected.
    #[must_use]
    pub fn unsigned_tail(&self) -> i64 {
        self.last_seq.saturating_sub(self.last_signed_seq).max(0)
    }
}

/// A mismatch whose cause is decided by looking at the following event.
#[derive(Debug)]
struct Suspect {
    seq: i64,
    recomputed: Digest,
}

/// Verifies events one at a time, in sequence order, holding only the previous hash: logs of any length can be
/// streamed from storage.
///
/// ```text
/// let mut verifier = Verifier::new(trusted_keys, checkpoints);
/// for stored in rows { if !verifier.push(&stored) { break; } }
/// let report = verifier.finish();
/// ```
#[derive(Debug)]
pub struct Verifier {
    trusted: Vec<(String, PublicKey)>,
    checkpoints: Vec<Checkpoint>,
    next_checkpoint: usize,
    prev: Digest,
    next_seq: i64,
    started: bool,
    suspect: Option<Suspect>,
    report: Report,
}

impl Verifier {
    /// Creates a verifier that accepts checkpoints signed by any of `trusted` (in any order).
    #[must_use]
    pub fn new(trusted: Vec<PublicKey>, mut checkpoints: Vec<Checkpoint>) -> Self {
        checkpoints.sort_by_key(|checkpoint| checkpoint.seq);
        Self {
            trusted: trusted.into_iter().map(|key| (key.key_id(), key)).collect(),
            checkpoints,
            next_checkpoint: 0,
            prev: GENESIS,
            next_seq: 1,
            started: false,
            suspect: None,
            report: Report { events: 0, checkpoints: 0, last_seq: 0, last_signed_seq: 0, problem: None },
        }
    }

    /// Starts verification after events up to `seq` were removed by retention: the chain continues from `hash`,
    /// which a trusted signed checkpoint at exactly `seq` must vouch for (else [`Problem::UnsignedAnchor`]).
    #[must_use]
    pub fn starting_after(mut self, seq: i64, hash: Digest) -> Self {
        self.prev = hash;
        self.next_seq = seq.saturating_add(1);
        self.report.last_seq = seq;
        self.started = true;
        if !self.checkpoints.iter().any(|checkpoint| checkpoint.seq == seq) {
            self.report.problem = Some(Problem::UnsignedAnchor { seq });
        } else {
            self.settle_checkpoints(seq);
        }
        self
    }

    /// Checks the next event. Returns `false` once a problem has been found; later events are then ignored.
    ///
    /// After a hash mismatch one more event is read (and `true` returned) to tell an altered event from an altered
    /// hash.
    pub fn push(&mut self, stored: &StoredEvent) -> bool {
        if self.report.problem.is_some() {
            return false;
        }
        if !self.start() {
            return false;
        }
        let event = &stored.event;
        if let Some(suspect) = self.suspect.take() {
            // If this event chains from the recomputed hash, the suspect's content is intact and only its recorded
            // hash was changed. Otherwise its content was changed.
            let intact = event.seq == suspect.seq.saturating_add(1) && link(&suspect.recomputed, event) == stored.hash;
            let seq = suspect.seq;
            self.report.problem = Some(if intact { Problem::BadLink { seq } } else { Problem::Altered { seq } });
            return false;
        }
        if event.seq != self.next_seq {
            self.report.problem = Some(Problem::Gap { expected_seq: self.next_seq, found_seq: event.seq });
            return false;
        }
        let recomputed = link(&self.prev, event);
        if recomputed != stored.hash {
            self.suspect = Some(Suspect { seq: event.seq, recomputed });
            return true;
        }
        self.prev = recomputed;
        self.report.events += 1;
        self.report.last_seq = event.seq;
        self.next_seq = event.seq.saturating_add(1);
        self.settle_checkpoints(event.seq)
    }

    /// Ends verification and reports. Checkpoints beyond the last event mean the log was truncated.
    #[must_use]
    pub fn finish(mut self) -> Report {
        if self.report.problem.is_none() {
            if let Some(suspect) = self.suspect.take() {
                self.report.problem = Some(Problem::Altered { seq: suspect.seq });
            } else if self.start()
                && let Some(checkpoint) = self.checkpoints.get(self.next_checkpoint)
            {
                let problem = check_signature(&self.trusted, checkpoint)
                    .unwrap_or(Problem::CheckpointBeyondLog { seq: checkpoint.seq });
                self.report.problem = Some(problem);
            }
        }
        self.report
    }

    /// Checks checkpoints at or before seq 0 (only a seq-0 checkpoint of the empty log can be valid) once.
    fn start(&mut self) -> bool {
        if self.started {
            return true;
        }
        self.started = true;
        self.settle_checkpoints(0)
    }

    /// Checks every not yet checked checkpoint at or before `seq`, whose chain hash is `self.prev`.
    fn settle_checkpoints(&mut self, seq: i64) -> bool {
        while let Some(checkpoint) = self.checkpoints.get(self.next_checkpoint) {
            if checkpoint.seq > seq {
                break;
            }
            self.next_checkpoint += 1;
            let problem = check_signature(&self.trusted, checkpoint).or_else(|| {
                (checkpoint.seq != seq || checkpoint.hash != self.prev)
                    .then_some(Problem::CheckpointMismatch { seq: checkpoint.seq })
            });
            if let Some(problem) = problem {
                self.report.problem = Some(problem);
                return false;
            }
            self.report.checkpoints += 1;
            self.report.last_signed_seq = seq;
        }
        true
    }
}

fn check_signature(trusted: &[(String, PublicKey)], checkpoint: &Checkpoint) -> Option<Problem> {
    let mut candidates = trusted.iter().filter(|(key_id, _)| *key_id == checkpoint.key_id).peekable();
    if candidates.peek().is_none() {
        let key_id = checkpoint.key_id.chars().take(64).collect();
        return Some(Problem::UnknownKey { seq: checkpoint.seq, key_id });
    }
    if candidates.any(|(_, key)| key.verify(checkpoint)) {
        None
    } else {
        Some(Problem::BadSignature { seq: checkpoint.seq })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Problem, Report, StoredEvent, Verifier};
    use crate::chain::{GENESIS, link};
    use crate::event::{NewEvent, Outcome};
    use crate::signer::{AuditSigner, Checkpoint, PublicKey};

    fn chain(len: i64) -> Vec<StoredEvent> {
        let mut prev = GENESIS;
        (1..=len)
            .map(|seq| {
                let event = NewEvent::new(
                    format!("admin{seq}"),
                    "192.0.2.1",
                    "consumer.update",
                    format!("consumer:{seq}"),
                    Outcome::Success,
                )
                .with_details(json!({"before": {"rate": seq}, "after": {"rate": seq + 1}}))
                .into_event(seq, 1_700_000_000_000 + seq * 1_000);
                let hash = link(&prev, &event);
                prev = hash;
                StoredEvent { event, hash }
            })
            .collect()
    }

    /// Recomputes every hash from `from` (1-based) on, as an attacker with database access would.
    fn rehash_from(events: &mut [StoredEvent], from: i64) {
        let mut prev = GENESIS;
        for stored in events.iter_mut() {
            if stored.event.seq >= from {
                stored.hash = link(&prev, &stored.event);
            }
            prev = stored.hash;
        }
    }

    fn checkpoint_at(signer: &AuditSigner, events: &[StoredEvent], seq: i64) -> Checkpoint {
        let hash = events.iter().find(|s| s.event.seq == seq).map_or([0; 32], |s| s.hash);
        signer.sign(seq, &hash, 1_800_000_000_000)
    }

    fn verify(trusted: &[PublicKey], checkpoints: Vec<Checkpoint>, events: &[StoredEvent]) -> Report {
        let mut verifier = Verifier::new(trusted.to_vec(), checkpoints);
        for stored in events {
            if !verifier.push(stored) {
                break;
            }
        }
        verifier.finish()
    }

    #[test]
    fn intact_chain_of_100_verifies() {
        let signer = AuditSigner::generate();
        let events = chain(100);
        let checkpoints = vec![checkpoint_at(&signer, &events, 90), checkpoint_at(&signer, &events, 60)];
        let report = verify(&[signer.public_key()], checkpoints, &events);
        assert_eq!(report, Report { events: 100, checkpoints: 2, last_seq: 100, last_signed_seq: 90, problem: None });
        assert!(report.is_ok());
        assert_eq!(report.unsigned_tail(), 10);

        let unsigned = verify(&[], vec![], &events);
        assert_eq!(unsigned.problem, None);
        assert_eq!(unsigned.unsigned_tail(), 100);
    }

    #[test]
    fn altered_field_is_reported_at_its_event() {
        let edits: [fn(&mut StoredEvent); 4] = [
            |s| s.event.target = "consumer:999".into(),
            |s| s.event.outcome = Outcome::Denied,
            |s| s.event.details["after"]["rate"] = json!(0),
            |s| s.event.at_ms += 1,
        ];
        for edit in edits {
            let mut events = chain(100);
            edit(&mut events[36]);
            let report = verify(&[], vec![], &events);
            assert_eq!(report.problem, Some(Problem::Altered { seq: 37 }));
            assert_eq!(report.events, 36);
            assert_eq!(report.last_seq, 36);
        }
        // The last event has no successor to look at.
        let mut events = chain(100);
        events[99].event.actor = "mallory".into();
        assert_eq!(verify(&[], vec![], &events).problem, Some(Problem::Altered { seq: 100 }));
    }

    #[test]
    fn altered_hash_is_a_bad_link() {
        let mut events = chain(100);
        events[36].hash[5] ^= 0xff;
        assert_eq!(verify(&[], vec![], &events).problem, Some(Problem::BadLink { seq: 37 }));
    }

    #[test]
    fn deleted_event_is_a_gap() {
        let mut events = chain(100);
        events.remove(49);
        let problem = verify(&[], vec![], &events).problem;
        assert_eq!(problem, Some(Problem::Gap { expected_seq: 50, found_seq: 51 }));
        assert_eq!(
            problem.map(|p| p.to_string()).unwrap_or_default(),
            "event 50 is missing: the next event in the log is 51"
        );

        let mut duplicated = chain(10);
        duplicated.insert(5, duplicated[4].clone());
        assert_eq!(verify(&[], vec![], &duplicated).problem, Some(Problem::Gap { expected_seq: 6, found_seq: 5 }));

        let events = chain(10);
        assert_eq!(verify(&[], vec![], &events[3..]).problem, Some(Problem::Gap { expected_seq: 1, found_seq: 4 }));
    }

    #[test]
    fn rewritten_history_is_caught_by_checkpoint() {
        let signer = AuditSigner::generate();
        let original = chain(100);
        let checkpoints = vec![checkpoint_at(&signer, &original, 30), checkpoint_at(&signer, &original, 60)];

        let mut forged = original.clone();
        forged[36].event.actor = "someone-else".into();
        rehash_from(&mut forged, 37);

        // The chain alone cannot tell: that is what checkpoints are for.
        assert_eq!(verify(&[], vec![], &forged).problem, None);

        let report = verify(&[signer.public_key()], checkpoints, &forged);
        assert_eq!(report.problem, Some(Problem::CheckpointMismatch { seq: 60 }));
        assert_eq!(report.checkpoints, 1);
        assert_eq!(report.last_signed_seq, 30);
    }

    #[test]
    fn untrusted_key_is_reported() {
        let trusted = AuditSigner::generate();
        let stranger = AuditSigner::generate();
        let events = chain(100);
        let report = verify(&[trusted.public_key()], vec![checkpoint_at(&stranger, &events, 60)], &events);
        assert_eq!(report.problem, Some(Problem::UnknownKey { seq: 60, key_id: stranger.public_key().key_id() }));
    }

    #[test]
    fn forged_signature_is_reported() {
        let signer = AuditSigner::generate();
        let events = chain(100);
        let mut flipped = checkpoint_at(&signer, &events, 60);
        flipped.signature[0] ^= 1;
        let report = verify(&[signer.public_key()], vec![flipped], &events);
        assert_eq!(report.problem, Some(Problem::BadSignature { seq: 60 }));

        // A checkpoint made by an attacker's key but claiming the trusted key id.
        let mut impostor = checkpoint_at(&AuditSigner::generate(), &events, 60);
        impostor.key_id = signer.public_key().key_id();
        let report = verify(&[signer.public_key()], vec![impostor], &events);
        assert_eq!(report.problem, Some(Problem::BadSignature { seq: 60 }));
    }

    #[test]
    fn truncation_after_checkpoint_is_reported() {
        let signer = AuditSigner::generate();
        let events = chain(100);
        let checkpoints = vec![checkpoint_at(&signer, &events, 60)];

        let report = verify(&[signer.public_key()], checkpoints.clone(), &events[..55]);
        assert_eq!(report.problem, Some(Problem::CheckpointBeyondLog { seq: 60 }));
        assert_eq!(report.last_seq, 55);

        // Truncation behind the last checkpoint is the documented blind spot.
        let report = verify(&[signer.public_key()], checkpoints.clone(), &events[..70]);
        assert_eq!(report.problem, None);
        assert_eq!(report.unsigned_tail(), 10);

        let report = verify(&[signer.public_key()], checkpoints, &[]);
        assert_eq!(report.problem, Some(Problem::CheckpointBeyondLog { seq: 60 }));
    }

    #[test]
    fn checkpoints_before_the_first_event() {
        let signer = AuditSigner::generate();
        let empty = signer.sign(0, &GENESIS, 1);
        let report = verify(&[signer.public_key()], vec![empty.clone()], &chain(3));
        assert_eq!((report.problem, report.checkpoints), (None, 1));
        assert_eq!(verify(&[signer.public_key()], vec![empty], &[]).problem, None);

        let negative = signer.sign(-5, &GENESIS, 1);
        let report = verify(&[signer.public_key()], vec![negative], &chain(3));
        assert_eq!(report.problem, Some(Problem::CheckpointMismatch { seq: -5 }));
    }

    #[test]
    fn push_stops_after_a_problem() {
        let mut events = chain(10);
        events.remove(2);
        let mut verifier = Verifier::new(vec![], vec![]);
        assert!(verifier.push(&events[0]));
        assert!(verifier.push(&events[1]));
        assert!(!verifier.push(&events[2]));
        assert!(!verifier.push(&events[3]));
        let report = verifier.finish();
        assert_eq!(report.events, 2);
        assert_eq!(report.problem.as_ref().map(Problem::seq), Some(3));
    }

    #[test]
    fn problems_read_as_sentences_naming_the_event() {
        let problems = [
            Problem::Gap { expected_seq: 5, found_seq: 4 },
            Problem::Altered { seq: 5 },
            Problem::BadLink { seq: 5 },
            Problem::CheckpointMismatch { seq: 5 },
            Problem::BadSignature { seq: 5 },
            Problem::UnknownKey { seq: 5, key_id: "abcd".into() },
            Problem::CheckpointBeyondLog { seq: 5 },
        ];
        for problem in problems {
            let text = problem.to_string();
            assert!(text.contains("event 5") || text.contains("up to 5"), "{text}");
            assert_eq!(problem.seq(), 5);
        }
    }
}
