/**
 * The outbox and CRM client of one command or library call, opened together and closed together: the
 * composition root (`src/delivery/open-delivery.ts`), under the name the API modules import.
 */
export { crmClientFor, openDelivery, type Delivery, type DeliverySession } from '../delivery/open-delivery.ts';
