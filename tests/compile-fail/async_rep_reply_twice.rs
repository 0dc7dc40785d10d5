async fn serve(mut rep: ferromq::Rep) {
    let request = rep.recv_async().await.unwrap();
    let _ = request.reply_async("one").await;
    let _ = request.reply_async("two").await;
}

fn main() {
    let ctx = ferromq::Context::new();
    drop(serve(ctx.rep().unwrap()));
}
