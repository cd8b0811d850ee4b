import { useEffect, useRef } from "preact/hooks";

/** A modal <dialog>: focus moves into it, Escape cancels, and the browser returns focus to the opener. */
export function AbortDialog({
  uploadKey,
  busy,
  onConfirm,
  onCancel,
}: {
  uploadKey: string;
  busy: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const element = dialog.current;
    if (element !== null && !element.open) element.showModal();
    return () => element?.close();
  }, []);
  return (
    <dialog
      ref={dialog}
      aria-labelledby="abort-title"
      aria-describedby="abort-body"
      onCancel={(event) => {
        event.preventDefault();
        onCancel();
      }}
    >
      <h2 id="abort-title">Abort this upload?</h2>
      <p id="abort-body">
        The parts received for <code>{uploadKey}</code> are discarded and the upload cannot be resumed. This cannot be
        undone.
      </p>
      <div class="actions">
        {/* Cancel comes first: showModal() focuses it, so Enter on an accidental open does no harm. */}
        <button type="button" class="quiet" onClick={onCancel}>
          Cancel
        </button>
        <button type="button" class="danger" disabled={busy} onClick={onConfirm}>
          Abort
        </button>
      </div>
    </dialog>
  );
}
