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
 *
 * A refund deleted in the admin leaves its order's last-modified time as it was (WooCommerce
 * before 11.2 does not even send order.updated). The plugin then touches the order, so that
 * WooCommerce sends order.updated with a later date_modified_gmt whose refunds[] no longer
 * lists the refund, and Kompas stops counting it.
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

	/** Hooks the payload filter and the refund deletion. */
	public function register() {
		add_filter( 'woocommerce_webhook_payload', array( $this, 'payload' ), 10, 4 );
		add_action( 'woocommerce_refund_deleted', array( $this, 'refund_deleted' ), 10, 2 );
		// Deleted through the REST API (DELETE /orders/<id>/refunds/<rid>): WC_REST_CRUD_Controller's hook.
		add_action( 'woocommerce_rest_delete_shop_order_refund_object', array( $this, 'rest_refund_deleted' ), 10, 1 );
	}

	/**
	 * After a refund is deleted through the REST API: as `refund_deleted`.
	 *
	 * @param WC_Order_Refund $refund The deleted refund (its id may be 0 by now; its parent stays).
	 */
	public function rest_refund_deleted( $refund ) {
		if ( is_object( $refund ) && method_exists( $refund, 'get_parent_id' ) ) {
			$this->refund_deleted( 0, $refund->get_parent_id() );
		}
	}

	/**
	 * After a refund is deleted in the admin: its order modified now, which sends order.updated.
	 *
	 * @param int $refund_id The deleted refund's id.
	 * @param int $order_id  Its order's id.
	 */
	public function refund_deleted( $refund_id, $order_id ) {
		if ( ! $this->connection->is_connected() ) {
			return;
		}
		$order = wc_get_order( $order_id );
		if ( ! $order ) {
			return;
		}
		$order->set_date_modified( $this->now() );
		$order->save();
	}

	/**
	 * The current Unix time (tests set their own).
	 *
	 * @return int
	 */
	protected function now() {
		return time();
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
