// Photos from a camera: the system's camera app through a file input (the rear camera on
// phones), and where the browser offers getUserMedia, a live preview with a shutter.
import { $ } from './dom.js';

export class Camera {
  /** @param {(file: File) => void} onPhoto runs with each picture taken */
  constructor(onPhoto) {
    this.onPhoto = onPhoto;
    /** @type {MediaStream | null} */
    this.stream = null;
  }

  wire() {
    $('#take-photo').addEventListener('click', () => $('#capture').click());
    $('#capture').addEventListener('change', (e) => {
      for (const file of e.target.files) this.onPhoto(file);
      e.target.value = '';
    });
    if (!navigator.mediaDevices?.getUserMedia) return;
    $('#open-camera').hidden = false;
    $('#open-camera').addEventListener('click', () => this.open());
    $('#shutter').addEventListener('click', () => this.shoot());
    $('#close-camera').addEventListener('click', () => this.close());
  }

  async open() {
    say('');
    const button = $('#open-camera');
    // One request at a time: a second click while the browser asks would open a second stream.
    button.disabled = true;
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: 'environment', width: { ideal: 1920 }, height: { ideal: 1080 } },
        audio: false,
      });
    } catch (error) {
      say(cameraProblem(error));
      return;
    } finally {
      button.disabled = false;
    }
    const video = $('#camera-video');
    video.srcObject = this.stream;
    $('#camera').hidden = false;
    $('#open-camera').hidden = true;
    await video.play().catch(() => {});
    $('#shutter').focus();
  }

  /** The preview's current frame, as a JPEG photo. */
  async shoot() {
    const video = $('#camera-video');
    if (!video.videoWidth) {
      say('The camera has not sent a picture yet; try again in a moment.');
      return;
    }
    const canvas = new OffscreenCanvas(video.videoWidth, video.videoHeight);
    canvas.getContext('2d').drawImage(video, 0, 0);
    const blob = await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.92 });
    const time = new Date().toTimeString().slice(0, 8).replaceAll(':', '-');
    this.onPhoto(new File([blob], `camera-${time}.jpg`, { type: 'image/jpeg' }));
  }

  close() {
    for (const track of this.stream?.getTracks() ?? []) track.stop();
    this.stream = null;
    $('#camera-video').srcObject = null;
    $('#camera').hidden = true;
    $('#open-camera').hidden = false;
    $('#open-camera').focus();
  }
}

function say(text) {
  const message = $('#camera-message');
  message.textContent = text;
  message.hidden = !text;
}

// getUserMedia's failures in words (https://w3c.github.io/mediacapture-main/#dom-mediadevices-getusermedia).
function cameraProblem(error) {
  switch (error.name) {
    case 'NotAllowedError':
      return 'The camera was not allowed. Allow it in the browser\'s site settings, or use "Take a photo".';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No camera was found on this device. Use "Take a photo" or choose files instead.';
    case 'NotReadableError':
      return 'The camera is in use by another app, or the system refused it. Close that app and try again.';
    default:
      return `The camera could not be opened: ${error.message || error.name}.`;
  }
}
