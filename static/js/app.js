// Replydesk: small progressive enhancements (no framework, no CDN).
document.addEventListener("keydown", function (event) {
  // Ctrl+Enter (Cmd+Enter on macOS) in the reply box sends the reply.
  if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
    var target = event.target;
    if (target && target.form && target.form.classList.contains("reply-form")) {
      event.preventDefault();
      target.form.requestSubmit();
    }
  }
});
document.addEventListener("htmx:afterSwap", function (event) {
  // Keep the newest message in view after the thread refreshes.
  var thread = document.getElementById("message-thread");
  if (thread && (event.detail.target.id === "message-thread" || event.detail.target.id === "conversation-pane")) {
    thread.scrollTop = thread.scrollHeight;
  }
});
document.addEventListener("DOMContentLoaded", function () {
  var thread = document.getElementById("message-thread");
  if (thread) { thread.scrollTop = thread.scrollHeight; }
});
