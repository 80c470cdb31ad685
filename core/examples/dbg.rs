fn main() {
    let r = keel_core::redact::Redactor::new();
    r.add_secret("+==a+A");
    let input = b"-----BEGIN PRIVATE KEY-----+==a+APASSWORD=-----ENDghp_ +==a+A";
    println!("{}", String::from_utf8_lossy(&r.redact_bytes(input)));
    let mut s = r.stream(); let mut out = Vec::new();
    s.write(input, &mut out);
    println!("after write: {:?} pending {}", String::from_utf8_lossy(&out), s.pending());
    s.finish(&mut out);
    println!("{}", String::from_utf8_lossy(&out));
}
