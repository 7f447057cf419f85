<?php
/**
 * Kompas's own order.deleted deliveries carry the order's status and last change.
 *
 * @package Kompas
 */

use PHPUnit\Framework\TestCase;

/** A refund as the REST API's delete hook hands it over: deleted, its parent kept. */
class Kompas_Test_Deleted_Refund {
	private $parent;
	public function __construct( $parent ) {
		$this->parent = $parent;
	}
	public function get_id() {
		return 0;
	}
	public function get_parent_id() {
		return $this->parent;
	}
}

/** The webhooks' hooks with a clock the test sets. */
class Kompas_Test_Clocked_Webhooks extends Kompas_Webhooks {
	protected function now() {
		return 1669885200;   // 2022-12-01T09:00:00Z
	}
}

class WebhooksTest extends TestCase {

	private $webhooks;

	protected function setUp(): void {
		kompas_test_reset();
		$connection = new Kompas_Connection();
		$connection->save( kompas_test_connection() );
		$this->webhooks = new Kompas_Webhooks( $connection );
		$GLOBALS['kompas_test']['webhooks'] = array(
			3 => new Kompas_Test_Webhook( 'https://kompas.test/webhooks/woocommerce' ),
			4 => new Kompas_Test_Webhook( 'https://someone-else.example/hook' ),
		);
	}

	public function test_the_filter_and_the_refund_deletion_are_hooked_with_their_arguments() {
		$this->webhooks->register();
		$this->assertSame(
			array( array( 'woocommerce_webhook_payload', array( $this->webhooks, 'payload' ), 10, 4 ) ),
			$GLOBALS['kompas_test']['filters']
		);
		$this->assertContains(
			array( 'woocommerce_refund_deleted', array( $this->webhooks, 'refund_deleted' ), 10, 2 ),
			$GLOBALS['kompas_test']['actions']
		);
		$this->assertContains(
			array( 'woocommerce_rest_delete_shop_order_refund_object', array( $this->webhooks, 'rest_refund_deleted' ), 10, 1 ),
			$GLOBALS['kompas_test']['actions']
		);
	}

	public function test_a_refund_deleted_through_the_rest_api_touches_its_order_too() {
		$order = new Kompas_Test_Stored_Order( 'processing', 1669839541 );
		$GLOBALS['kompas_test']['orders'][45] = $order;
		$webhooks = new Kompas_Test_Clocked_Webhooks( new Kompas_Connection() );
		$webhooks->rest_refund_deleted( new Kompas_Test_Deleted_Refund( 45 ) );
		$this->assertSame( 1, $order->saved );
		$this->assertSame( 1669885200, $order->get_date_modified()->getTimestamp() );
	}

	public function test_a_deleted_refund_touches_its_order_so_that_order_updated_is_sent_with_a_later_time() {
		$order = new Kompas_Test_Stored_Order( 'processing', 1669839541 );
		$GLOBALS['kompas_test']['orders'][45] = $order;
		delete_option( Kompas_Connection::OPTION );
		$webhooks = new Kompas_Test_Clocked_Webhooks( new Kompas_Connection() );
		$webhooks->refund_deleted( 60, 45 );
		$this->assertSame( 0, $order->saved );   // not connected: nothing to tell Kompas
		$connection = new Kompas_Connection();
		$connection->save( kompas_test_connection() );
		$webhooks = new Kompas_Test_Clocked_Webhooks( $connection );
		$webhooks->refund_deleted( 60, 45 );
		$this->assertSame( 1, $order->saved );
		$this->assertSame( 1669885200, $order->get_date_modified()->getTimestamp() );
		$webhooks->refund_deleted( 61, 99 );   // an order that is gone: nothing
	}

	public function test_a_trashed_order_says_so_with_the_time_of_the_trash() {
		$GLOBALS['kompas_test']['orders'][45] = new Kompas_Test_Stored_Order( 'trash', 1670230805 );
		$this->assertSame(
			array( 'id' => 45, 'status' => 'trash', 'date_modified_gmt' => '2022-12-05T09:00:05' ),
			$this->webhooks->payload( array( 'id' => 45 ), 'order', 45, 3 )
		);
	}

	public function test_an_order_restored_before_the_delivery_says_its_status() {
		$GLOBALS['kompas_test']['orders'][45] = new Kompas_Test_Stored_Order( 'processing', 1670230865 );
		$payload = $this->webhooks->payload( array( 'id' => 45 ), 'order', 45, 3 );
		$this->assertSame( 'processing', $payload['status'] );
	}

	public function test_other_webhooks_and_full_payloads_are_left_as_they_are() {
		$GLOBALS['kompas_test']['orders'][45] = new Kompas_Test_Stored_Order( 'trash', 1670230805 );
		$this->assertSame( array( 'id' => 45 ), $this->webhooks->payload( array( 'id' => 45 ), 'order', 45, 4 ) );
		$this->assertSame( array( 'id' => 9 ), $this->webhooks->payload( array( 'id' => 9 ), 'product', 9, 3 ) );
		$full = array( 'id' => 45, 'status' => 'processing' );
		$this->assertSame( $full, $this->webhooks->payload( $full, 'order', 45, 3 ) );
		$this->assertSame( array( 'id' => 46 ), $this->webhooks->payload( array( 'id' => 46 ), 'order', 46, 3 ) );
	}
}
