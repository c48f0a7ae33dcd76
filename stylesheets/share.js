// The copy button of the proxy's "link to this view" page. Without script the page still
// shows the link as text to select; with it, one button copies it and says so aloud.
(() => {
  const field = document.querySelector('.a11y-share__link');
  const button = document.querySelector('.a11y-share__copy');
  const status = document.querySelector('.a11y-share__status');
  if (!field || !button || !status) return;
  const say = (text) => {
    // Emptied first, so the same words are announced again on a second press.
    status.textContent = '';
    setTimeout(() => { status.textContent = text; }, 50);
  };
  const fallback = () => {
    field.focus();
    field.select();
    return document.execCommand && document.execCommand('copy');
  };
  button.hidden = false;
  field.addEventListener('focus', () => field.select());
  button.addEventListener('click', async () => {
    let copied = false;
    try {
      await navigator.clipboard.writeText(field.value);
      copied = true;
    } catch (error) {
      copied = fallback();
    }
    say(copied ? button.dataset.copied : button.dataset.failed);
  });
})();
