#![no_main]

use crier::bounce::{Kind, MAX_FINDINGS, REASON_MAX, classify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let report = classify(data);
    assert!((1..=MAX_FINDINGS).contains(&report.findings.len()));
    assert!(report.delivered_to.len() <= 32);
    for address in &report.delivered_to {
        assert!(address.contains('@'));
        assert_eq!(address, &address.to_lowercase());
    }
    for finding in &report.findings {
        assert!(!finding.reason.is_empty());
        assert!(finding.reason.chars().count() <= REASON_MAX);
        assert!(!finding.reason.contains(['\n', '\r']));
        if let Some(recipient) = &finding.recipient {
            assert!(recipient.contains('@') && recipient.len() <= 320);
        }
        if let Some(id) = &finding.message_id {
            assert!(id.starts_with('<') && id.ends_with('>'));
        }
        if let Some(status) = &finding.status {
            assert_eq!(status.split('.').count(), 3);
        }
        // Only a failure carries a failure's kinds; a complaint has no status.
        if finding.kind == Kind::Complaint {
            assert!(finding.status.is_none());
        }
    }
});
