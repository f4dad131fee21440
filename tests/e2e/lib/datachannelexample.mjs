// The client side of Kurento's `datachannelexample` module (KmsShowData, KmsSendData), as the
// Kurento module generator writes it for kurento-client: two MediaElements with no methods or
// events of their own. Kurento ships it only for Java; a Node application registers this.
import kurento from 'kurento-client';

const { abstracts } = kurento.register;
const MediaElement = abstracts.MediaElement;

function element(name) {
  const Class = function () {
    Class.super_.call(this);
  };
  Object.defineProperty(Class, 'name', { value: name });
  Object.setPrototypeOf(Class.prototype, MediaElement.prototype);
  Class.super_ = MediaElement;
  Class.constructorParams = { mediaPipeline: { type: 'kurento.MediaPipeline', required: true } };
  Class.events = MediaElement.events;
  Class.check = (key, value) => {
    if (!(value instanceof Class)) throw kurento.checkType.ChecktypeError(key, Class, value);
  };
  return Class;
}

export const datachannelexample = {
  name: 'datachannelexample',
  KmsShowData: element('KmsShowData'),
  KmsSendData: element('KmsSendData'),
};
