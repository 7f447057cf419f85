<?php
/**
 * What Kompas's own order webhooks carry beyond WooCommerce's payload.
 *
 * @package Kompas
 */

defined( 'ABSPATH' ) || exit;

/**
 * WooCommerce sends a trashed order (order.deleted) as only {"id"}, built when the delivery
 * runs: with Action Scheduler that can be minutes after the trash, even after the merchant
 * restored the order. Kompas cannot tell then whether the trash came before or after the
 * restore's order.restored. Its own deliveries of a deleted order therefore also carry the
 * order's status and last-modified time (GMT) as of the delivery: "trash" and the trash's time,
 * or the status it was restored to, which tells Kompas the trash is already undone.
 */
class Kompas_Webhooks {

	/**
	 * The connection, for the events URL Kompas's webhooks deliver to.
	 *
	 * @var Kompas_Connection
	 */
	private $connection;

	/**
	 * @param Kompas_Connection $connection The connection.
	 */
	public function __construct( Kompas_Connection $connection ) {
		$this->connection = $connection;
	}

	/** Hooks the payload filter. */
	public function register() {
		add_filter( 'woocommerce_webhook_payload', array( $this, 'payload' ), 10, 4 );
	}

	/**
	 * The payload of a webhook delivery, with a deleted order's status and last-modified time
	 * when the webhook is Kompas's.
	 *
	 * @param mixed  $payload     WooCommerce's payload.
	 * @param string $resource    The webhook's resource (order, product...).
	 * @param int    $resource_id The order's id.
	 * @param int    $webhook_id  The webhook's id.
	 * @return mixed
	 */
	public function payload( $payload, $resource, $resource_id, $webhook_id ) {
		if ( 'order' !== $resource || ! is_array( $payload ) || array( 'id' ) !== array_keys( $payload ) ) {
			return $payload;
		}
		$connection = $this->connection->get();
		$webhook    = function_exists( 'wc_get_webhook' ) ? wc_get_webhook( $webhook_id ) : null;
		if ( null === $connection || ! $webhook || $webhook->get_delivery_url() !== $connection['events_url'] ) {
			return $payload;
		}
		$order = wc_get_order( $resource_id );
		if ( ! $order ) {
			return $payload;
		}
		$payload['status'] = $order->get_status();
		$modified          = $order->get_date_modified();
		if ( $modified ) {
			$payload['date_modified_gmt'] = gmdate( 'Y-m-d\TH:i:s', $modified->getTimestamp() );
		}
		return $payload;
	}
}
