fn main() {
    let ctx = ferromq::Context::new();
    let mut rep = ctx.rep().unwrap();
    let request = rep.recv().unwrap();
    let _ = request.reply("one");
    let _ = request.reply("two");
}
