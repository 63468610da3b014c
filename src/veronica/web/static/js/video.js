/**
 * The camera: opens the user-facing webcam at 640×480, switches between
 * cameras, and turns every getUserMedia failure into an AppError code the page
 * can explain (`camera_denied`, `camera_not_found`, `camera_in_use`, …).
 * @module video
 */

import { AppError } from './errors.js';

/** @type {MediaTrackConstraints} */
const BASE_CONSTRAINTS = { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } };

/**
 * The AppError code for a getUserMedia failure.
 * @param {unknown} error
 * @returns {string}
 */
export function cameraErrorCode(error) {
  const name = error instanceof Error || error instanceof DOMException ? error.name : '';
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
    case 'PermissionDeniedError':
      return 'camera_denied';
    case 'NotFoundError':
    case 'DevicesNotFoundError':
    case 'OverconstrainedError':
      return 'camera_not_found';
    case 'NotReadableError':
    case 'TrackStartError':
    case 'AbortError':
      return 'camera_in_use';
    default:
      return 'camera_failed';
  }
}

export class VideoController {
  /**
   * @param {HTMLVideoElement} video
   * @param {{onLost?: () => void}} [events] `onLost`: the camera stopped on its own (unplugged, revoked)
   */
  constructor(video, events = {}) {
    this.video = video;
    this.onLost = events.onLost ?? (() => {});
    /** @type {MediaStream | null} */
    this.stream = null;
    /** @type {MediaDeviceInfo[]} */
    this.cameras = [];
    /** Bumped by every start and stop: a camera that opens after a newer call is closed. */
    this.generation = 0;
  }

  /** @returns {boolean} */
  get running() {
    return this.stream !== null;
  }

  /** @returns {{width: number, height: number}} */
  get size() {
    return { width: this.video.videoWidth, height: this.video.videoHeight };
  }

  /**
   * Open a camera (the user-facing one unless `deviceId` names another) and
   * wait until the video has its size.
   * @param {string} [deviceId]
   * @returns {Promise<void>}
   * @throws {AppError}
   */
  async start(deviceId) {
    this.stop();
    const generation = this.generation;
    if (!window.isSecureContext) throw new AppError('camera_insecure');
    if (!navigator.mediaDevices?.getUserMedia) throw new AppError('camera_unsupported');
    /** @type {MediaTrackConstraints} */
    const video = deviceId
      ? { ...BASE_CONSTRAINTS, deviceId: { exact: deviceId } }
      : { ...BASE_CONSTRAINTS, facingMode: 'user' };
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video, audio: false });
    } catch (error) {
      throw new AppError(cameraErrorCode(error), String(error));
    }
    if (generation !== this.generation) {
      // Cancelled (or restarted) while the permission prompt was open.
      stream.getTracks().forEach((track) => track.stop());
      throw new AppError('camera_cancelled');
    }
    this.stream = stream;
    for (const track of stream.getVideoTracks()) {
      track.addEventListener('ended', () => {
        if (this.stream === stream) this.onLost();
      });
    }
    this.video.srcObject = stream;
    await this.#playing();
    // Labels and the full list are only available once permission is granted.
    const devices = await navigator.mediaDevices.enumerateDevices();
    this.cameras = devices.filter((d) => d.kind === 'videoinput');
  }

  /** @returns {boolean} */
  get canSwitch() {
    return this.cameras.length > 1;
  }

  /**
   * Open the next camera in the list.
   * @returns {Promise<void>}
   */
  async switchCamera() {
    if (!this.canSwitch) return;
    const current = this.stream?.getVideoTracks()[0]?.getSettings().deviceId;
    const index = this.cameras.findIndex((c) => c.deviceId === current);
    const next = this.cameras[(index + 1) % this.cameras.length];
    await this.start(next.deviceId);
  }

  stop() {
    this.generation += 1;
    const stream = this.stream;
    this.stream = null;
    stream?.getTracks().forEach((track) => track.stop());
    this.video.srcObject = null;
  }

  /** @returns {Promise<void>} */
  async #playing() {
    const video = this.video;
    if (video.readyState < HTMLMediaElement.HAVE_METADATA) {
      await new Promise((resolve) => video.addEventListener('loadedmetadata', resolve, { once: true }));
    }
    try {
      await video.play();
    } catch (error) {
      // Autoplay of a muted inline video is allowed; a failure here is a real one.
      throw new AppError('camera_failed', String(error));
    }
  }
}
